// Package jobs owns the remediation queue between the handlers and the remediator: the job
// message, and the two transports (SQS in AWS, an in-process channel in local mode).
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Kind is what a job asks for.
type Kind string

// Kinds.
const (
	Remediate Kind = "remediate"
	Release   Kind = "release"
	// Notify posts a digest member's own message ("Review individually"), paced by the sender.
	Notify Kind = "notify"
	// Digest applies one approver's decision to every finding of a digest (Action says which),
	// outside Slack's 3-second window, however many findings the digest holds.
	Digest Kind = "digest"
	// Inspect reads a policy finding's bucket setting and stores the plan (snapshot and target)
	// in the ledger, then shows before → after with a Fix button (REVIEW bucket remediations).
	Inspect Kind = "inspect"
	// Undo restores a fixed bucket setting from its stored snapshot.
	Undo Kind = "undo"
)

// Job is one message on the remediation queue. It names the ledger record only; the remediator
// reads everything else from the ledger, and acts only on decisions recorded there: By, Action,
// ResponseURL, Channel and TS are informational (and for jobs queued by older versions), never
// trusted. Anyone who can send to the queue can only ask for a recorded decision to be applied.
type Job struct {
	Kind      Kind   `json:"kind"`
	FindingID string `json:"findingId"`
	// By is who asked: "policy" or the approving Slack user.
	By string `json:"by"`
	// Attempt identifies this job (every redelivery of it carries the same one): the remediator's
	// ledger writes use it as their attempt token, so a write whose answer was lost is recognised
	// as the job's own when the job runs again. Send fills it in.
	Attempt string `json:"attempt,omitempty"`
	// ResponseURL lets the remediator update the message in webhook mode.
	ResponseURL string `json:"responseUrl,omitempty"`
	// For digest jobs: which digest, which button, and where its message is.
	DigestID string `json:"digestId,omitempty"`
	Action   string `json:"action,omitempty"`
	Channel  string `json:"channel,omitempty"`
	TS       string `json:"ts,omitempty"`
}

// Validate rejects a job the remediator cannot act on.
func (j Job) Validate() error {
	switch j.Kind {
	case Remediate, Release, Notify, Inspect, Undo:
		if j.FindingID == "" {
			return errors.New("job has no findingId")
		}
	case Digest:
		if j.DigestID == "" {
			return errors.New("digest job needs digestId")
		}
	default:
		return fmt.Errorf("job kind %q: want %q, %q, %q, %q, %q or %q", j.Kind, Remediate, Release, Notify, Digest, Inspect, Undo)
	}
	return nil
}

func (j Job) withAttempt() Job {
	if j.Attempt == "" {
		var b [8]byte
		rand.Read(b[:])
		j.Attempt = hex.EncodeToString(b[:])
	}
	return j
}

// Queue accepts jobs.
type Queue interface {
	Send(ctx context.Context, j Job) error
}

// SQSAPI is the part of the SQS client used.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQS sends jobs to a queue URL.
type SQS struct {
	API SQSAPI
	URL string
}

func (q *SQS) Send(ctx context.Context, j Job) error {
	j = j.withAttempt()
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if _, err := q.API.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.URL, MessageBody: aws.String(string(b))}); err != nil {
		return fmt.Errorf("queue %s job for finding %s: %w", j.Kind, j.FindingID, err)
	}
	return nil
}

// DeadLetter sends a message that can never be processed to the DLQ with the reason, so it
// stops blocking its batch and a person can look at it.
type DeadLetter struct {
	API SQSAPI
	URL string
}

// Send forwards the original body with the reason as a message attribute.
func (d *DeadLetter) Send(ctx context.Context, body, reason string) error {
	if d == nil || d.URL == "" {
		return errors.New("no dead-letter queue configured")
	}
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	_, err := d.API.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: &d.URL, MessageBody: aws.String(body),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{"reason": {DataType: aws.String("String"), StringValue: aws.String(reason)}},
	})
	return err
}

// Chan is the in-process queue of local mode.
type Chan chan Job

func (c Chan) Send(ctx context.Context, j Job) error {
	j = j.withAttempt()
	select {
	case c <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
