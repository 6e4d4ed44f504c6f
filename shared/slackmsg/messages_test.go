package slackmsg

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/macie-chatops/macie-chatops/shared/ledger"
	"github.com/slack-go/slack"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json")

func record() ledger.Record {
	at := time.Date(2021, 10, 25, 23, 25, 4, 0, time.UTC)
	return ledger.Record{
		FindingID: "00000000000000000000000000000001", AccountID: "555555555555", AccountName: "payments", Region: "us-east-1",
		Partition: "aws", Bucket: "DOC-EXAMPLE-BUCKET1", Key: "macie-workshop/sample-data.csv", VersionID: "3HL4kqtJlcpXroDTDmJ",
		FindingType: "SensitiveData:S3Object/Multiple", Severity: "HIGH", Action: "REVIEW",
		Reason: "defaults sets SensitiveData:S3Object/Multiple: REVIEW", DetectedAt: at,
		Detections: []ledger.Detection{{Category: "FINANCIAL_INFORMATION", Type: "CREDIT_CARD_NUMBER", Count: 30},
			{Category: "PERSONAL_INFORMATION", Type: "USA_SOCIAL_SECURITY_NUMBER", Count: 30}, {Type: "PHONE_NUMBER", Count: 28}},
		QuarantineBucket: "macie-quarantine-555555555555-us-east-1", QuarantineKey: "555555555555/DOC-EXAMPLE-BUCKET1/macie-workshop/sample-data.csv",
		QuarantineVersion: "q-v1", Error: "AccessDenied on CopyObject: the quarantine role lacks s3:PutObject on the quarantine bucket",
		History: []ledger.Entry{{To: ledger.Received, Actor: "policy"}, {From: ledger.Received, To: ledger.Notified, Actor: "policy"},
			{From: ledger.Notified, To: ledger.Queued, Actor: "U012SECLEAD"}},
	}
}

func withoutCopy(r ledger.Record) ledger.Record {
	r.QuarantineBucket, r.QuarantineKey, r.QuarantineVersion = "", "", ""
	return r
}

func builders(r ledger.Record) map[string]Message {
	return map[string]Message{
		"review":       Review(r),
		"notify":       Notify(r),
		"auto-started": AutoStarted(r),
		"in-progress":  InProgress(r, "U012SECLEAD", "Quarantine"),
		"quarantined":  Quarantined(r, "U012SECLEAD"),
		"failed":       Failed(withoutCopy(r), r.Error),
		"failed-copy":  Failed(r, r.Error),
		"stalled":      Stalled(r, "Quarantine", 42*time.Minute),
		"dismissed":    Dismissed(r, "U012SECLEAD"),
		"released":     Released(r, "U012SECLEAD"),
		"skipped-lock": Skipped(r, "Object Lock GOVERNANCE retention until 2027-01-01: the copy is in quarantine, the source stays readable"),
	}
}

func TestMessagesRenderAsInTestdata(t *testing.T) {
	for name, m := range builders(record()) {
		got, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", name+".json")
		if *update {
			os.WriteFile(path, append(got, '\n'), 0o644)
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run go test -update)", name, err)
		}
		if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
			t.Errorf("%s differs from %s (run go test ./slackmsg -update after checking the change):\n%s", name, path, got)
		}
		// Every message round-trips through slack-go's block decoder, as Slack would accept it.
		var back struct {
			Blocks slack.Blocks `json:"blocks"`
		}
		if err := json.Unmarshal(got, &back); err != nil || len(back.Blocks.BlockSet) != len(m.Blocks) {
			t.Errorf("%s: blocks do not decode: %v", name, err)
		}
		if m.Text == "" {
			t.Errorf("%s: no plain-text fallback", name)
		}
	}
}

// texts collects every text a message shows.
func texts(t *testing.T, m Message) []string {
	raw, _ := json.Marshal(m)
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if s, ok := val.(string); ok && (k == "text" || k == "value") {
					out = append(out, s)
				}
				walk(val)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var v any
	json.Unmarshal(raw, &v)
	walk(v)
	return out
}

func TestInjectionIsNeutralisedInEveryBuilder(t *testing.T) {
	r := record()
	evil := "<!channel> `x` <https://evil|click> @here <@U999> &amp;"
	r.Key, r.Bucket, r.Title, r.Reason, r.Error, r.AccountName = evil, "b<!here>", evil, evil, evil, evil
	r.Detections = []ledger.Detection{{Type: evil, Count: 1}}
	link := regexp.MustCompile(`<[^>]*>`)
	for name, m := range builders(r) {
		for _, s := range append(texts(t, m), m.Text) {
			for _, l := range link.FindAllString(s, -1) {
				// The only markup allowed is ours: date tokens, the console link, user mentions.
				if !strings.HasPrefix(l, "<!date^") && !strings.HasPrefix(l, "<https://console.aws.amazon.com/macie/") && !regexp.MustCompile(`^<@U[0-9A-Z]+>$`).MatchString(l) {
					t.Errorf("%s: live markup %q in %q", name, l, s)
				}
			}
			if strings.Contains(s, "<@U999>") || strings.Contains(s, "https://evil|") && strings.Contains(s, "<https://evil") {
				t.Errorf("%s: injected mention/link survived: %q", name, s)
			}
			if strings.Contains(strings.ToLower(s), "@here") {
				t.Errorf("%s: @here not neutralised: %q", name, s)
			}
			if strings.Contains(s, "`x`") {
				t.Errorf("%s: backtick breakout: %q", name, s)
			}
		}
	}
}

func TestLimitsAndButtons(t *testing.T) {
	r := record()
	r.Key = strings.Repeat("&<>", 2000) + "end"
	for name, m := range builders(r) {
		for _, s := range texts(t, m) {
			if n := len([]rune(s)); n > MaxText {
				t.Errorf("%s: text of %d characters", name, n)
			}
		}
		if len(m.Blocks) > MaxBlocks {
			t.Errorf("%s: %d blocks", name, len(m.Blocks))
		}
		for _, b := range m.Blocks {
			if ab, ok := b.(*slack.ActionBlock); ok {
				for _, el := range ab.Elements.ElementSet {
					btn := el.(*slack.ButtonBlockElement)
					if btn.Value != r.FindingID {
						t.Errorf("%s: button %s carries %q, want only the record id", name, btn.ActionID, btn.Value)
					}
				}
			}
		}
	}
	if got := Truncate("abc&amp;def", 6); got != "abc…" {
		t.Errorf("entity cut: %q", got)
	}
}

func TestForStateFollowsTheRecord(t *testing.T) {
	r := record()
	for status, want := range map[ledger.Status]string{
		ledger.Notified: "Review required", ledger.Quarantined: "Quarantined", ledger.Failed: "Remediation failed",
		ledger.Dismissed: "Dismissed", ledger.Released: "Released", ledger.Blocked: "Not quarantined",
	} {
		r.Status = status
		if m := ForState(r); !strings.Contains(m.Text, want) {
			t.Errorf("%s: %q", status, m.Text)
		}
	}
}

// TestShowKeysIsHonouredByEveryBuilder: with slack.showKeys masked or none, no builder puts the
// object key (nor a recognisable part of it) in any text Slack shows or pushes, error notes and
// the quarantine location included; with full (the default) the key is shown.
func TestShowKeysIsHonouredByEveryBuilder(t *testing.T) {
	const key = "hr/payroll/jane-doe-ssn.csv"
	for _, mode := range []string{"masked", "none"} {
		r := record()
		r.Key, r.ShowKeys = key, mode
		r.QuarantineKey = r.AccountID + "/" + r.Bucket + "/" + key
		r.Error = "copy s3://" + r.Bucket + "/" + key + " failed: AccessDenied"
		ms := builders(r)
		ms["Digest"] = Digest(DigestView{ID: "digest-1", AccountID: r.AccountID, Bucket: r.Bucket, Total: 2, Review: 2, Keys: []string{key, "a/b/other-person.pdf"},
			ByType: map[string]int{}, BySeverity: map[string]int{}, ShowKeys: mode, Cutoff: 2})
		for name, m := range ms {
			for _, s := range append(texts(t, m), m.Text) {
				for _, part := range []string{"payroll", "jane-doe", "other-person"} {
					if strings.Contains(s, part) {
						t.Errorf("%s, showKeys %s: %q shows %q", name, mode, s, part)
					}
				}
			}
		}
	}
	if got := ShownKey("masked", key); got != "h…/p…/j….csv" {
		t.Fatalf("masked: %q", got)
	}
	r := record()
	r.Key = key
	if m := Review(r); !strings.Contains(m.Text, key) {
		t.Fatalf("full (default) does not show the key: %q", m.Text)
	}
}
