package stack

import (
	"testing"
)

// A second `pulumi up` with no change must not show a diff on the StackSet: its template body
// (and every other input) is byte-for-byte what the first run produced. Each run is a separate
// program run, with Go's map order drawn anew; a body assembled by ranging over a map would
// differ between runs (and make CloudFormation update every instance in the organization).
func TestAttackOrgTemplateBodyIsStable(t *testing.T) {
	org := `{"organizationalUnits": ["` + ouA + `", "` + ouB + `"], "regions": ["us-east-1", "eu-west-1", "ap-southeast-2"]}`
	var first map[string]string
	for run := 0; run < 5; run++ {
		m, _, err := deployOrg(t, org, map[string]string{"macie-chatops:macieMode": MacieStandalone}, defaultMembers)
		if err != nil {
			t.Fatal(err)
		}
		ss, _ := stackSetOf(t, m)
		got := map[string]string{}
		for k, v := range ss.inputs {
			got[string(k)] = v.String()
		}
		if first == nil {
			first = got
			if first["templateBody"] == "" {
				t.Fatal("no template body")
			}
			continue
		}
		for k, v := range first {
			if got[k] != v {
				t.Fatalf("run %d: StackSet input %s differs from the first run's:\n%.400s\nvs\n%.400s", run, k, got[k], v)
			}
		}
		if len(got) != len(first) {
			t.Fatalf("run %d: %d StackSet inputs, first run %d", run, len(got), len(first))
		}
	}
}
