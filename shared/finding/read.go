package finding

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	gojson "github.com/goccy/go-json"
)

// Item is one finding read from a file, or the reason that item could not be read. Line is the
// 1-based line where the item starts.
type Item struct {
	Line    int
	Finding *Finding
	Err     error
}

// ReadAll reads every finding in a document: a single event or finding, a JSON array of them, a
// GetFindings response ({"findings": [...]}), or JSON Lines. One bad item never hides the others:
// each gets its own Item with its own error.
func ReadAll(data []byte) []Item {
	var items []Item
	rd := NewReader(bytes.NewReader(data))
	for {
		c, ok := rd.Next()
		if !ok {
			return items
		}
		items = append(items, c.Items()...)
	}
}

// Reader splits an input of any size into Chunks without holding it in memory: JSON Lines go
// line by line and a top-level array element by element. Decoding a chunk (Chunk.Items) is the
// costly part and is left to the caller, so it can run on several cores while the Reader keeps
// the input order.
//
// An input up to WholeLimit bytes is read whole and judged exactly as ReadAll always did (the
// whole document must be valid JSON, or else it is JSON Lines). Above that, the first line
// decides: a valid JSON value starts JSON Lines, a '[' starts a streamed array; anything else (one
// big object such as a GetFindings page) is still read whole. A streamed array that breaks
// after N elements yields those N, then the error.
type Reader struct {
	src  *bufio.Reader
	next func() (Chunk, bool)
	line int // JSON Lines: number of the last line read
	done bool
	buf  []byte
	dec  *json.Decoder // streamed array
	idx  int           // streamed array: next element index
	at   int           // streamed array: line where it starts
}

// WholeLimit is the input size up to which a Reader reads the input whole.
const WholeLimit = 4 << 20

// NewReader reads r; it does not close it.
func NewReader(r io.Reader) *Reader {
	rd := &Reader{}
	rd.next = func() (Chunk, bool) { return rd.start(r) }
	return rd
}

// Next returns the next chunk in input order; false at the end. A read error is a chunk of its
// own (its Items carry the error), after which Next returns false.
func (rd *Reader) Next() (Chunk, bool) {
	if rd.done {
		return Chunk{}, false
	}
	return rd.next()
}

func (rd *Reader) fail(line int, err error) (Chunk, bool) {
	rd.done = true
	return Chunk{Line: line, err: err}, true
}

// start reads the head of the input and picks the mode.
func (rd *Reader) start(r io.Reader) (Chunk, bool) {
	head, err := io.ReadAll(io.LimitReader(r, WholeLimit+1))
	if err != nil {
		return rd.fail(1, fmt.Errorf("read error: %w", err))
	}
	all := len(head) <= WholeLimit
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	if all {
		return rd.whole(head)
	}
	// A large input: the first non-empty line decides.
	if l, ok := firstLine(head); ok && valid(l) {
		rd.src = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(head), r), 64<<10)
		rd.next = rd.nextLine
		return rd.nextLine()
	}
	if firstByte(head) == '[' {
		rd.at = lineOf(head, len(head)-len(bytes.TrimLeft(head, " \t\r\n")))
		rd.dec = json.NewDecoder(io.MultiReader(bytes.NewReader(head), r))
		if _, err := rd.dec.Token(); err != nil {
			return rd.fail(1, fmt.Errorf("invalid JSON: %w", err))
		}
		rd.next = rd.nextElement
		return rd.nextElement()
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		return rd.fail(1, fmt.Errorf("read error: %w", err))
	}
	return rd.whole(append(head, rest...))
}

// whole judges a complete input exactly as the whole-file reader did.
func (rd *Reader) whole(data []byte) (Chunk, bool) {
	var chunks []Chunk
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		chunks = []Chunk{{Line: 1, err: errors.New("empty input: no finding to read")}}
	case valid(data):
		chunks = documentChunks(data, lineOf(data, len(data)-len(bytes.TrimLeft(data, " \t\r\n"))))
	default:
		if lines := splitLines(data); len(lines) > 1 && firstLineIsJSON(lines) {
			for _, l := range lines {
				if len(bytes.TrimSpace(l.text)) > 0 {
					chunks = append(chunks, Chunk{Line: l.n, data: l.text, kind: kindLine})
				}
			}
		} else {
			chunks = []Chunk{{Line: 1, err: fmt.Errorf("invalid JSON: %w", jsonErr(data, json.Unmarshal(data, new(any))))}}
		}
	}
	rd.next = func() (Chunk, bool) {
		if len(chunks) == 0 {
			rd.done = true
			return Chunk{}, false
		}
		c := chunks[0]
		chunks = chunks[1:]
		return c, true
	}
	return rd.next()
}

// nextLine returns the next non-blank line of a JSON Lines input.
func (rd *Reader) nextLine() (Chunk, bool) {
	for {
		rd.buf = rd.buf[:0]
		var err error
		for {
			var part []byte
			part, err = rd.src.ReadSlice('\n')
			rd.buf = append(rd.buf, part...)
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return rd.fail(rd.line+1, fmt.Errorf("line %d: read error: %w", rd.line+1, err))
		}
		if len(rd.buf) == 0 && err == io.EOF {
			rd.done = true
			return Chunk{}, false
		}
		rd.line++
		text := bytes.TrimSuffix(rd.buf, []byte("\n"))
		if len(bytes.TrimSpace(text)) == 0 {
			if err == io.EOF {
				rd.done = true
				return Chunk{}, false
			}
			continue
		}
		if err == io.EOF {
			rd.next = func() (Chunk, bool) { rd.done = true; return Chunk{}, false }
		}
		// The chunk outlives rd.buf (another goroutine may decode it): copy.
		return Chunk{Line: rd.line, data: bytes.Clone(text), kind: kindLine}, true
	}
}

// nextElement returns the next element of a streamed top-level array.
func (rd *Reader) nextElement() (Chunk, bool) {
	if rd.dec.More() {
		var raw json.RawMessage
		if err := rd.dec.Decode(&raw); err != nil {
			return rd.fail(rd.at, fmt.Errorf("element %d: invalid JSON: %w", rd.idx, err))
		}
		rd.idx++
		return Chunk{Line: rd.at, data: raw, kind: kindElement, index: rd.idx - 1}, true
	}
	if _, err := rd.dec.Token(); err != nil { // the closing ]
		return rd.fail(rd.at, fmt.Errorf("after element %d: invalid JSON: %w", rd.idx, err))
	}
	if _, err := rd.dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("more data after the closing ]")
		}
		return rd.fail(rd.at, fmt.Errorf("after the array: invalid JSON: %w", err))
	}
	rd.done = true
	return Chunk{}, false
}

// valid is go-json's grammar check: the same verdict as encoding/json.Valid (held to it by
// TestValidIsEncodingJSONValid) at a fraction of the cost, which matters because every line of
// a JSON Lines input is checked before it is parsed.
func valid(data []byte) bool { return gojson.Valid(data) }

type chunkKind uint8

const (
	kindDocument chunkKind = iota // a whole valid JSON document
	kindLine                      // one line of JSON Lines, not yet validated
	kindElement                   // one element of an array
)

// Chunk is one independently decodable piece of an input. Items is safe to call from several
// goroutines at once on different chunks.
type Chunk struct {
	Line  int
	data  []byte
	kind  chunkKind
	index int
	err   error
}

// Items decodes the chunk: one Item, or several when a line holds an array or a GetFindings
// response.
func (c Chunk) Items() []Item {
	switch {
	case c.err != nil:
		return []Item{{Line: c.Line, Err: c.err}}
	case c.kind == kindLine:
		if !valid(c.data) {
			return []Item{{Line: c.Line, Err: fmt.Errorf("line %d: invalid JSON: %w", c.Line, json.Unmarshal(c.data, new(any)))}}
		}
		var items []Item
		for _, d := range documentChunks(c.data, c.Line) {
			items = append(items, d.Items()...)
		}
		return items
	case c.kind == kindElement:
		f, err := Parse(c.data)
		if err != nil {
			err = fmt.Errorf("element %d: %w", c.index, err)
		}
		return []Item{{Line: c.Line, Finding: f, Err: err}}
	}
	f, err := Parse(c.data)
	return []Item{{Line: c.Line, Finding: f, Err: err}}
}

// documentChunks splits one valid JSON document: an array or a GetFindings response into its
// elements, anything else stays one document.
func documentChunks(data []byte, line int) []Chunk {
	switch firstByte(data) {
	case '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil {
			return []Chunk{{Line: line, err: err}}
		}
		return elementChunks(arr, line)
	case '{':
		// Only an object that names "findings" can be a response; the check saves a second
		// full decode of every event.
		if mayNameFindings(data) {
			var wrapper struct {
				Findings []json.RawMessage `json:"findings"`
			}
			if json.Unmarshal(data, &wrapper) == nil && wrapper.Findings != nil {
				return elementChunks(wrapper.Findings, line)
			}
		}
	}
	return []Chunk{{Line: line, data: data, kind: kindDocument}}
}

func elementChunks(arr []json.RawMessage, line int) []Chunk {
	out := make([]Chunk, len(arr))
	for i, raw := range arr {
		out[i] = Chunk{Line: line, data: raw, kind: kindElement, index: i}
	}
	return out
}

// firstLine returns the first non-blank line of head, trimmed, if head holds all of it.
func firstLine(head []byte) ([]byte, bool) {
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		if i < 0 {
			return nil, false
		}
		if t := bytes.TrimSpace(head[:i]); len(t) > 0 {
			return t, true
		}
		head = head[i+1:]
	}
	return nil, false
}

// mayNameFindings reports whether a JSON object could have a key that encoding/json matches to
// "findings": the key as written, in any ASCII case, with U+017F for the s (Go's case folding),
// or written with \u escapes. False means the costly wrapper decode can be skipped.
func mayNameFindings(data []byte) bool {
	if bytes.Contains(data, []byte(`\u`)) {
		return true
	}
	// bytes.IndexByte is vectorised; an event has a few dozen f's to look behind.
	for _, f := range []byte{'f', 'F'} {
		for rest := data; ; {
			i := bytes.IndexByte(rest, f)
			if i < 0 {
				break
			}
			if foldsToFindings(rest[i:]) {
				return true
			}
			rest = rest[i+1:]
		}
	}
	return false
}

// foldsToFindings reports whether b starts with "findings" in any ASCII case (s also as U+017F).
func foldsToFindings(b []byte) bool {
	const word = "finding"
	if len(b) < len(word)+1 {
		return false
	}
	for j := range len(word) {
		if b[j]|0x20 != word[j] {
			return false
		}
	}
	return b[len(word)]|0x20 == 's' || bytes.HasPrefix(b[len(word):], []byte("\xc5\xbf"))
}

type numberedLine struct {
	n    int
	text []byte
}

func splitLines(data []byte) []numberedLine {
	var out []numberedLine
	for i, l := range bytes.Split(data, []byte("\n")) {
		out = append(out, numberedLine{n: i + 1, text: l})
	}
	return out
}

func firstLineIsJSON(lines []numberedLine) bool {
	for _, l := range lines {
		if t := bytes.TrimSpace(l.text); len(t) > 0 {
			return valid(t)
		}
	}
	return false
}

func lineOf(data []byte, offset int) int {
	return 1 + bytes.Count(data[:min(offset, len(data))], []byte("\n"))
}
