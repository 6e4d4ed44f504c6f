package finding

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// The streaming Reader must give exactly what the whole-file reader gave (oldReadAll, kept
// below verbatim) on every input small enough for the latter, and the same items on large JSON
// Lines and arrays, which it streams.

func sameItems(t *testing.T, name string, got, want []Item) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d items, want %d", name, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Line != w.Line || fmt.Sprint(g.Err) != fmt.Sprint(w.Err) || (g.Finding == nil) != (w.Finding == nil) ||
			(g.Finding != nil && g.Finding.ID != w.Finding.ID) {
			t.Fatalf("%s item %d: got {%d %v %v}, want {%d %v %v}", name, i, g.Line, g.Finding, g.Err, w.Line, w.Finding, w.Err)
		}
	}
}

func readInputs(t testing.TB) map[string][]byte {
	in := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(fixtures, "*"))
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzParse/*")
	for _, p := range files {
		in[p], _ = os.ReadFile(p)
	}
	for _, p := range corpus {
		b, _ := os.ReadFile(p)
		// Corpus files are "go test fuzz v1\n[]byte(...)".
		if i := bytes.Index(b, []byte("[]byte(")); i >= 0 {
			var s string
			if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimSpace(string(b[i+7:])), ")"), "%q", &s); err == nil {
				in[p] = []byte(s)
			}
		}
	}
	csv, cdi := readFixture(t, "finding-getfindings-csv.json"), readFixture(t, "finding-getfindings-cdi.json")
	c := func(b []byte) string { return strings.Join(strings.Fields(string(b)), " ") }
	for name, s := range map[string]string{
		"jsonl":          c(csv) + "\n{broken\n\n" + c(cdi) + "\r\n[" + c(cdi) + "]\n" + `{"findings":[` + c(csv) + "]}\n42\n   \n",
		"upper-wrapper":  `{"FINDINGS":[` + c(csv) + `]}`,
		"fold-wrapper":   `{"findingſ":[` + c(csv) + `]}`,
		"escape-wrapper": `{"\u0066indings":[` + c(csv) + `]}`,
		"null-wrapper":   `{"findings":null,"id":"x"}`,
		"bom-jsonl":      "\xef\xbb\xbf" + c(csv) + "\n" + c(cdi),
		"one-line":       c(csv),
		"blank-lines":    "\n\n" + c(csv) + "\n\n",
		"garbage":        "hello\nworld\n",
		"truncated-arr":  "[" + string(csv) + ",",
		"empty":          " \n\t",
	} {
		in[name] = []byte(s)
	}
	return in
}

func TestReaderMatchesWholeFileReader(t *testing.T) {
	for name, data := range readInputs(t) {
		sameItems(t, name, ReadAll(data), oldReadAll(data))
		// One byte at a time: the Reader must not depend on how reads are split.
		var got []Item
		rd := NewReader(iotest.OneByteReader(bytes.NewReader(data)))
		for c, ok := rd.Next(); ok; c, ok = rd.Next() {
			got = append(got, c.Items()...)
		}
		sameItems(t, name+" (one byte reads)", got, oldReadAll(data))
	}
}

// big repeats lines until the input is over WholeLimit, so the Reader streams it.
func big(unit string, sep string) (string, int) {
	var b strings.Builder
	n := 0
	for b.Len() <= WholeLimit+len(unit) {
		if n > 0 {
			b.WriteString(sep)
		}
		b.WriteString(unit)
		n++
	}
	return b.String(), n
}

func TestReaderStreamsLargeInputs(t *testing.T) {
	csv := strings.Join(strings.Fields(string(readFixture(t, "finding-getfindings-csv.json"))), " ")
	body, n := big(csv, "\n{bad\n\n")
	jsonl := "\n" + body + "\n"
	sameItems(t, "large JSON Lines", ReadAll([]byte(jsonl)), oldReadAll([]byte(jsonl)))
	if got := ReadAll([]byte(jsonl)); len(got) != 2*n-1 || got[len(got)-1].Line != 2+3*(n-1) {
		t.Fatalf("large JSON Lines: %d items, last at line %d", len(got), got[len(got)-1].Line)
	}

	body, n = big(csv, ",\n")
	arr := " \n[" + body + "]\n"
	sameItems(t, "large array", ReadAll([]byte(arr)), oldReadAll([]byte(arr)))

	// A large array that breaks: the elements before the break, then one error.
	broken := " \n[" + body + ", {\"id\": }]"
	got := ReadAll([]byte(broken))
	if len(got) != n+1 || got[n-1].Err != nil || got[n].Err == nil || !strings.Contains(got[n].Err.Error(), fmt.Sprintf("element %d: invalid JSON", n)) {
		t.Fatalf("broken large array: %d items (want %d), last %+v", len(got), n+1, got[len(got)-1])
	}
	trailing := " \n[" + body + "] x"
	if got := ReadAll([]byte(trailing)); len(got) != n+1 || !strings.Contains(got[n].Err.Error(), "after the array") {
		t.Fatalf("large array with trailing data: %d items, last %+v", len(got), got[len(got)-1])
	}

	// A large single object that is not JSON Lines is still read whole and judged as before.
	obj := `{"findings":[` + body + `]}`
	sameItems(t, "large response", ReadAll([]byte(obj)), oldReadAll([]byte(obj)))
}

func TestReaderReportsReadErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	csv := strings.Join(strings.Fields(string(readFixture(t, "finding-getfindings-csv.json"))), " ")
	body, _ := big(csv, "\n")
	rd := NewReader(io.MultiReader(strings.NewReader(body+"\n"+csv+"\n"), iotest.ErrReader(boom)))
	var last Item
	count := 0
	for c, ok := rd.Next(); ok; c, ok = rd.Next() {
		for _, it := range c.Items() {
			last = it
			count++
		}
	}
	if !errors.Is(last.Err, boom) || !strings.Contains(last.Err.Error(), "read error") {
		t.Fatalf("after %d items, last item %+v: want the read error", count, last)
	}
	{
		rd := NewReader(iotest.ErrReader(boom))
		c, ok := rd.Next()
		if it := c.Items(); !ok || len(it) != 1 || !errors.Is(it[0].Err, boom) {
			t.Fatalf("read error at once: %v %+v", ok, it)
		}
		if _, ok := rd.Next(); ok {
			t.Fatal("Next after a read error")
		}
	}
}

func TestMayNameFindings(t *testing.T) {
	for s, want := range map[string]bool{
		`{"findings":[]}`: true, `{"FindingS":[]}`: true, `{"findingſ":[]}`: true, `{"\u0066indings":1}`: true,
		`{"finding":1}`: false, `{"id":"x","type":"f"}`: false, `{"fin`: false,
	} {
		if got := mayNameFindings([]byte(s)); got != want {
			t.Errorf("%s: %v, want %v", s, got, want)
		}
	}
}

func BenchmarkReadJSONLines(b *testing.B) {
	csv := strings.Join(strings.Fields(string(readFixture(b, "event-eventbridge-csv.json"))), " ")
	body, n := big(csv, "\n")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(strings.NewReader(body))
		for c, ok := rd.Next(); ok; c, ok = rd.Next() {
			c.Items()
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "findings/s")
}

// oldReadAll is ReadAll as it was before streaming (whole input in memory).
func oldReadAll(data []byte) []Item {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(data)) == 0 {
		return []Item{{Line: 1, Err: errors.New("empty input: no finding to read")}}
	}
	if json.Valid(data) {
		return oldReadDocument(data, lineOf(data, len(data)-len(bytes.TrimLeft(data, " \t\r\n"))))
	}
	// Not one JSON value: JSON Lines, where each line stands alone.
	if lines := splitLines(data); len(lines) > 1 && firstLineIsJSON(lines) {
		var items []Item
		for _, l := range lines {
			if len(bytes.TrimSpace(l.text)) == 0 {
				continue
			}
			if !json.Valid(l.text) {
				items = append(items, Item{Line: l.n, Err: fmt.Errorf("line %d: invalid JSON: %w", l.n, json.Unmarshal(l.text, new(any)))})
				continue
			}
			items = append(items, oldReadDocument(l.text, l.n)...)
		}
		return items
	}
	return []Item{{Line: 1, Err: fmt.Errorf("invalid JSON: %w", jsonErr(data, json.Unmarshal(data, new(any))))}}
}

func oldReadDocument(data []byte, line int) []Item {
	switch firstByte(data) {
	case '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil {
			return []Item{{Line: line, Err: err}}
		}
		return oldReadArray(arr, line)
	case '{':
		var wrapper struct {
			Findings []json.RawMessage `json:"findings"`
		}
		if json.Unmarshal(data, &wrapper) == nil && wrapper.Findings != nil {
			return oldReadArray(wrapper.Findings, line)
		}
	}
	f, err := Parse(data)
	return []Item{{Line: line, Finding: f, Err: err}}
}

func oldReadArray(arr []json.RawMessage, line int) []Item {
	items := make([]Item, 0, len(arr))
	for i, raw := range arr {
		f, err := Parse(raw)
		if err != nil {
			err = fmt.Errorf("element %d: %w", i, err)
		}
		items = append(items, Item{Line: line, Finding: f, Err: err})
	}
	return items
}

// TestValidIsEncodingJSONValid: the Reader's validity check must agree with encoding/json's on
// real findings mutated at random (truncated, bytes replaced by JSON punctuation, control
// characters, invalid UTF-8), and on the grammar's corner cases.
func TestValidIsEncodingJSONValid(t *testing.T) {
	d := []byte(strings.Join(strings.Fields(string(readFixture(t, "event-eventbridge-csv.json"))), " "))
	r := rand.New(rand.NewSource(1))
	alpha := []byte("{}[]\",:0123456789.eE+-tfnrul \\/\x00\x1f\x7f\xff\xc3\xa9ab")
	for range 20000 {
		m := append([]byte(nil), d...)
		if r.Intn(3) == 0 {
			m = m[:1+r.Intn(len(m)-1)]
		}
		for k := r.Intn(3); k >= 0; k-- {
			m[r.Intn(len(m))] = alpha[r.Intn(len(alpha))]
		}
		if json.Valid(m) != valid(m) {
			t.Fatalf("encoding/json says %v, valid says %v: %q", json.Valid(m), valid(m), m)
		}
	}
	for _, s := range []string{"", " ", "1", "-", "01", "1.", "1e", "-0", "1e+2", `"\u12"`, `"\u00e9"`, "\"\xff\"", "\"a\tb\"", "[1,]",
		`{"a":1,}`, "nul", "truex", "[1] ", "1 2", `"\x"`, `{"a" 1}`, "[\"\x7f\"]", "{}", "[]", "[[[]]]", `{"a":{"b":[null,true,false]}}`} {
		if json.Valid([]byte(s)) != valid([]byte(s)) {
			t.Errorf("%q: encoding/json says %v", s, json.Valid([]byte(s)))
		}
	}
}
