// Package synth owns generated Macie findings for measurements: any number of distinct,
// realistic EventBridge events (4 KB each, like a real sensitive-data finding), as JSON Lines,
// without holding them in memory. The memory test of `policy explain` and `make bench` use it.
package synth

import (
	"bufio"
	_ "embed"
	"io"
	"strconv"
	"strings"
)

// event.json is shared/testdata/macie/event-eventbridge-csv.json on one line, with {{FIELD}}
// placeholders for what varies between findings.
//
//go:embed event.json
var template string

// Accounts the generated findings are spread over; 111122223333 has overrides in
// policies/example-org.yaml.
var Accounts = []string{"111122223333", "444455556666", "555555555555", "777788889999"}

var types = []string{
	"SensitiveData:S3Object/Multiple", "SensitiveData:S3Object/Personal", "SensitiveData:S3Object/Financial",
	"SensitiveData:S3Object/Credentials", "SensitiveData:S3Object/CustomIdentifier",
}

type part struct {
	text  string
	field string // after text; "" at the end
}

var parts = split(template)

func split(t string) []part {
	var out []part
	for {
		i := strings.Index(t, "{{")
		if i < 0 {
			return append(out, part{text: t})
		}
		j := strings.Index(t[i:], "}}")
		out = append(out, part{text: t[:i], field: t[i+2 : i+j]})
		t = t[i+j+2:]
	}
}

// Write writes n findings, one JSON event per line, numbered from 0. Finding i is the same in
// every run.
func Write(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var num [32]byte
	for i := range n {
		for _, p := range parts {
			bw.WriteString(p.text)
			switch p.field {
			case "ID":
				id := strconv.AppendInt(num[:0], int64(i), 16)
				for range 32 - len(id) {
					bw.WriteByte('0')
				}
				bw.Write(id)
			case "ACCOUNT":
				bw.WriteString(Accounts[i%len(Accounts)])
			case "TYPE":
				bw.WriteString(types[(i/len(Accounts))%len(types)])
			case "KEY":
				bw.WriteString("exports/2026/part-")
				bw.Write(strconv.AppendInt(num[:0], int64(i), 10))
				bw.WriteString(".csv")
			case "SCORE":
				bw.WriteByte("123"[i%3])
			case "VERSION":
				bw.WriteString("v")
				bw.Write(strconv.AppendInt(num[:0], int64(i), 36))
			}
		}
	}
	return bw.Flush()
}
