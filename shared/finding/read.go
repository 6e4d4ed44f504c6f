package finding

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(data)) == 0 {
		return []Item{{Line: 1, Err: errors.New("empty input: no finding to read")}}
	}
	if json.Valid(data) {
		return readDocument(data, lineOf(data, len(data)-len(bytes.TrimLeft(data, " \t\r\n"))))
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
			items = append(items, readDocument(l.text, l.n)...)
		}
		return items
	}
	return []Item{{Line: 1, Err: fmt.Errorf("invalid JSON: %w", jsonErr(data, json.Unmarshal(data, new(any))))}}
}

func readDocument(data []byte, line int) []Item {
	switch firstByte(data) {
	case '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil {
			return []Item{{Line: line, Err: err}}
		}
		return readArray(arr, line)
	case '{':
		var wrapper struct {
			Findings []json.RawMessage `json:"findings"`
		}
		if json.Unmarshal(data, &wrapper) == nil && wrapper.Findings != nil {
			return readArray(wrapper.Findings, line)
		}
	}
	f, err := Parse(data)
	return []Item{{Line: line, Finding: f, Err: err}}
}

func readArray(arr []json.RawMessage, line int) []Item {
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
			return json.Valid(t)
		}
	}
	return false
}

func lineOf(data []byte, offset int) int {
	return 1 + bytes.Count(data[:min(offset, len(data))], []byte("\n"))
}
