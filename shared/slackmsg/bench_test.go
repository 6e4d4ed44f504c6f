package slackmsg

import (
	"encoding/json"
	"testing"
)

// BenchmarkBuildReview is the cost of rendering and encoding one review message.
func BenchmarkBuildReview(b *testing.B) {
	r := record()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(Review(r)); err != nil {
			b.Fatal(err)
		}
	}
}
