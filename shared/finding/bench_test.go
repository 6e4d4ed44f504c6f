package finding

import "testing"

func BenchmarkParse(b *testing.B) {
	data := readFixture(b, "event-eventbridge-csv.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
