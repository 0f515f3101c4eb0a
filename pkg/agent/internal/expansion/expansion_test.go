package expansion

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "NODE": "n1"}
	for in, want := range map[string]string{
		"echo $(A)":        "echo 1",
		"$(NODE)-$(A)":     "n1-1",
		"$$(A)":            "$(A)",
		"$(MISSING)":       "$(MISSING)",
		"cost $5":          "cost $5",
		"unterminated $(A": "unterminated $(A",
		"trailing $":       "trailing $",
	} {
		if got := Expand(in, vars); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
	if All(nil, vars) != nil {
		t.Error("All(nil) is not nil")
	}
}
