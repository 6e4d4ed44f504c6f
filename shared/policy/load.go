package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/macie-chatops/macie-chatops/shared/finding"
	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a policy file, at file:line.
type Problem struct {
	Source  string `json:"source"`
	Line    int    `json:"line"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	Warning bool   `json:"warning,omitempty"`
}

func (p Problem) String() string {
	kind := "error"
	if p.Warning {
		kind = "warning"
	}
	loc := p.Source
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Path != "" {
		return fmt.Sprintf("%s: %s: %s: %s", loc, kind, p.Path, p.Message)
	}
	return fmt.Sprintf("%s: %s: %s", loc, kind, p.Message)
}

// LoadError carries every error (and warning) found in a policy file.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	var lines []string
	for _, p := range e.Problems {
		if !p.Warning {
			lines = append(lines, p.String())
		}
	}
	return "invalid policy:\n  " + strings.Join(lines, "\n  ")
}

// LoadFile reads and validates a policy file.
func LoadFile(file string) (*Policy, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w (pass the path of a policies/<stack>.yaml file)", file, err)
	}
	return Parse(data, file)
}

// Parse validates a policy document; source names it in messages.
func Parse(data []byte, source string) (*Policy, error) {
	var probs []Problem
	add := func(line int, p, format string, args ...any) {
		probs = append(probs, Problem{Source: source, Line: line, Path: p, Message: fmt.Sprintf(format, args...)})
	}

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		probs = append(probs, yamlProblems(source, err)...)
		return nil, &LoadError{probs}
	}
	if len(bytes.TrimSpace(data)) == 0 || len(root.Content) == 0 {
		add(1, "", "the file is empty; start with `version: 1` and a `defaults:` section")
		return nil, &LoadError{probs}
	}

	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		probs = append(probs, yamlProblems(source, err)...)
		// A type error leaves the rest decoded: go on, so one run reports every problem.
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &LoadError{probs}
		}
	}

	v := validator{source: source, root: &root, add: add}
	v.file(&f)
	probs = append(probs, v.warnings...)

	var errs []Problem
	var warns []Problem
	typeErrLines := map[int]bool{}
	for _, p := range probs {
		if p.Path == "" && !p.Warning {
			typeErrLines[p.Line] = true
		}
	}
	for _, p := range probs {
		if p.Path != "" && typeErrLines[p.Line] {
			continue // the YAML error on this line already says what is wrong with the value
		}
		if p.Warning {
			warns = append(warns, p)
		} else {
			errs = append(errs, p)
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	sort.SliceStable(warns, func(i, j int) bool { return warns[i].Line < warns[j].Line })
	if len(errs) > 0 {
		return nil, &LoadError{append(errs, warns...)}
	}
	return &Policy{File: f, Source: source, Hash: hashBytes(data), Warnings: warns}, nil
}

// Problems returns the problems inside err when it is a LoadError, else err as one problem.
func Problems(err error, source string) []Problem {
	var le *LoadError
	if errors.As(err, &le) {
		return le.Problems
	}
	return []Problem{{Source: source, Message: err.Error()}}
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var unknownField = regexp.MustCompile(`^field (\S+) not found in type policy\.(\w+)$`)

// yamlProblems turns the YAML library's errors into Problems, one per line it reports, and says
// which keys are valid where an unknown key was found.
func yamlProblems(source string, err error) []Problem {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out []Problem
	for _, m := range msgs {
		p := Problem{Source: source, Message: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Message = sm[2]
		}
		if um := unknownField.FindStringSubmatch(p.Message); um != nil {
			p.Message = fmt.Sprintf("unknown key %q; valid keys here: %s", um[1], strings.Join(keysOf(um[2]), ", "))
		} else if strings.Contains(p.Message, "cannot unmarshal") {
			p.Message = strings.Replace(p.Message, "cannot unmarshal", "wrong type: cannot read", 1)
		}
		out = append(out, p)
	}
	return out
}

// keysOf lists the yaml keys of one of the file's types, for "valid keys here" hints.
func keysOf(typeName string) []string {
	types := map[string]reflect.Type{
		"File": reflect.TypeOf(File{}), "Settings": reflect.TypeOf(Settings{}), "Override": reflect.TypeOf(Override{}),
		"Exclusions": reflect.TypeOf(Exclusions{}), "Approvers": reflect.TypeOf(Approvers{}), "Slack": reflect.TypeOf(Slack{}),
		"Quarantine": reflect.TypeOf(Quarantine{}), "Digest": reflect.TypeOf(Digest{}),
		"BucketFixes": reflect.TypeOf(BucketFixes{}), "EncryptionFix": reflect.TypeOf(EncryptionFix{}), "Flapping": reflect.TypeOf(Flapping{}),
	}
	t, ok := types[typeName]
	if !ok {
		return nil
	}
	keys := yamlKeys(t)
	sort.Strings(keys)
	return keys
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == ",inline" {
			keys = append(keys, yamlKeys(f.Type)...)
			continue
		}
		if name := strings.Split(tag, ",")[0]; name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

type validator struct {
	source   string
	root     *yaml.Node
	add      func(line int, path, format string, args ...any)
	warnings []Problem
}

func (v *validator) warn(p []string, format string, args ...any) {
	v.warnings = append(v.warnings, Problem{Source: v.source, Line: v.line(p, false), Path: strings.Join(p, "."),
		Message: fmt.Sprintf(format, args...), Warning: true})
}

func (v *validator) fail(p []string, format string, args ...any) {
	v.add(v.line(p, false), strings.Join(p, "."), format, args...)
}

func (v *validator) failKey(p []string, format string, args ...any) {
	v.add(v.line(p, true), strings.Join(p, "."), format, args...)
}

// line finds the line of the value (or the key) at a path of mapping keys.
func (v *validator) line(p []string, key bool) int {
	n := v.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	best := n.Line
	for _, k := range p {
		if n.Kind != yaml.MappingNode {
			return best
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				if key && k == p[len(p)-1] {
					return n.Content[i].Line
				}
				n = n.Content[i+1]
				best = n.Line
				found = true
				break
			}
		}
		if !found {
			return best
		}
	}
	return best
}

func (v *validator) file(f *File) {
	if f.Version != 1 {
		v.fail([]string{"version"}, "got %d; the only supported version is 1 (write `version: 1` at the top)", f.Version)
	}
	v.settings([]string{"defaults"}, &f.Defaults)
	if len(f.Defaults.Actions) == 0 {
		v.warn([]string{"defaults"}, "no actions: every finding type is IGNOREd unless an account sets actions")
	}
	for id, o := range f.Accounts {
		p := []string{"accounts", id}
		if !finding.IsAccountID(id) {
			v.failKey(p, "account id %q is not 12 digits; quote it (\"012345678901\") so YAML keeps leading zeros", id)
		}
		o := o
		v.settings(p, &o.Settings)
		v.effectiveEncryption(p, f.Defaults.BucketFixes, o.BucketFixes)
	}
	v.effectiveEncryption([]string{"defaults"}, nil, f.Defaults.BucketFixes)
}

var (
	userID      = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	groupID     = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
	channelRef  = regexp.MustCompile(`^(#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{2,})$`)
	teamID      = regexp.MustCompile(`^[TE][A-Z0-9]{2,}$`)
	bucketChars = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`)
	placeholder = regexp.MustCompile(`\{[^}]*\}`)
)

func (v *validator) settings(base []string, s *Settings) {
	at := func(p ...string) []string { return append(append([]string{}, base...), p...) }
	for pattern, action := range s.Actions {
		p := at("actions", pattern)
		if !validAction(action) {
			v.fail(p, "%q is not an action; choose one of %s", action, joinActions())
		}
		switch {
		case pattern == "*":
		case strings.HasSuffix(pattern, "*"):
			if strings.Contains(strings.TrimSuffix(pattern, "*"), "*") {
				v.failKey(p, "pattern %q may only have one trailing *, as in \"SensitiveData:*\"", pattern)
			} else if !knownPrefix(strings.TrimSuffix(pattern, "*")) {
				v.warn(p, "pattern %q matches none of the finding types Macie documents today", pattern)
			}
		case strings.Contains(pattern, "*"):
			v.failKey(p, "pattern %q may only have one trailing *, as in \"SensitiveData:*\"", pattern)
		case !known(pattern):
			v.warn(p, "finding type %q is not one Macie documents today (kept: Macie adds types); known: %s", pattern, strings.Join(KnownTypes, ", "))
		}
		v.policyAction(p, pattern, action)
	}
	if s.MinSeverity != "" && severityLevel(s.MinSeverity) == 0 {
		v.fail(at("minSeverity"), "%q is not a severity; choose one of %s", s.MinSeverity, strings.Join(Severities, ", "))
	}
	if e := s.Exclusions; e != nil {
		for _, b := range e.Buckets {
			if _, err := path.Match(b, ""); err != nil {
				v.fail(at("exclusions", "buckets"), "bucket pattern %q is not a valid glob: %v", b, err)
			}
		}
		for _, k := range e.KeyPrefixes {
			if k == "" {
				v.fail(at("exclusions", "keyPrefixes"), "an empty key prefix would exclude every object; remove it")
			}
		}
	}
	if a := s.Approvers; a != nil {
		for _, u := range a.Users {
			if !userID.MatchString(u) {
				v.fail(at("approvers", "users"), "%q is not a Slack user id (U… or W…; find it in the user's profile, \"Copy member ID\")", u)
			}
		}
		for _, g := range a.Groups {
			if !groupID.MatchString(g) {
				v.fail(at("approvers", "groups"), "%q is not a Slack user-group id (S…)", g)
			}
		}
	}
	if sl := s.Slack; sl != nil {
		if sl.Channel != "" && !channelRef.MatchString(sl.Channel) {
			v.fail(at("slack", "channel"), "%q is not a channel; use a channel id (C…) or \"#lower-case-name\"", sl.Channel)
		}
		if sl.TeamID != "" && !teamID.MatchString(sl.TeamID) {
			v.fail(at("slack", "teamId"), "%q is not a Slack team id (T…)", sl.TeamID)
		}
		switch sl.ShowKeys {
		case "", ShowKeysFull, ShowKeysMasked, ShowKeysNone:
		default:
			v.fail(at("slack", "showKeys"), "%q: choose full (the default), masked or none", sl.ShowKeys)
		}
	}
	if q := s.Quarantine; q != nil {
		if q.Bucket != "" {
			for _, ph := range placeholder.FindAllString(q.Bucket, -1) {
				if ph != "{account}" && ph != "{region}" {
					v.fail(at("quarantine", "bucket"), "unknown placeholder %s; use {account} and {region}", ph)
				}
			}
			name := renderBucket(q.Bucket, "123456789012", "ap-southeast-1")
			if !placeholder.MatchString(name) && (!bucketChars.MatchString(name) || len(name) > 63 || len(name) < 3) {
				v.fail(at("quarantine", "bucket"), "%q does not give a valid S3 bucket name (3-63 of a-z 0-9 . -, e.g. %q)", q.Bucket, name)
			}
		}
		if q.RetentionDays != nil && *q.RetentionDays < 1 {
			v.fail(at("quarantine", "retentionDays"), "%d: retention must be at least 1 day", *q.RetentionDays)
		}
		if q.DeleteMode != "" && !contains(DeleteModes, q.DeleteMode) {
			v.fail(at("quarantine", "deleteMode"), "%q is not a delete mode; choose one of %s", q.DeleteMode, strings.Join(DeleteModes, ", "))
		}
	}
	v.bucketFixes(at("bucketFixes"), s.BucketFixes)
	if d := s.Digest; d != nil {
		if d.Threshold != nil && *d.Threshold < 1 {
			v.fail(at("digest", "threshold"), "%d: the threshold must be at least 1 (leave digest out to turn it off)", *d.Threshold)
		}
		if d.WindowSeconds != nil && *d.WindowSeconds < 1 {
			v.fail(at("digest", "windowSeconds"), "%d: the window must be at least 1 second", *d.WindowSeconds)
		}
	}
}

func validAction(a Action) bool {
	for _, x := range Actions {
		if a == x {
			return true
		}
	}
	return false
}

func joinActions() string {
	s := make([]string, len(Actions))
	for i, a := range Actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func known(t string) bool { return contains(KnownTypes, t) }

func knownPrefix(prefix string) bool {
	for _, t := range KnownTypes {
		if strings.HasPrefix(t, prefix) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func severityLevel(name string) int {
	for i, s := range Severities {
		if s == name {
			return i + 1
		}
	}
	return 0
}
