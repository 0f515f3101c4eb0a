package admission

import (
	"slices"
	"strings"
	"testing"
)

func TestWithout(t *testing.T) {
	all, err := Without(nil)
	if err != nil || len(all) != len(Plugins) {
		t.Fatalf("Without(nil) = %d plugins, %v; want all %d", len(all), err, len(Plugins))
	}
	got, err := Without([]string{"PodSecurity", "LimitRanger"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	want := slices.DeleteFunc(Names(), func(n string) bool { return n == "PodSecurity" || n == "LimitRanger" })
	if !slices.Equal(names, want) {
		t.Errorf("Without(PodSecurity, LimitRanger) = %v, want %v (Plugins' order, both left out)", names, want)
	}
	none, err := Without(Names())
	if err != nil || len(none) != 0 {
		t.Errorf("Without(every name) = %d plugins, %v; want none", len(none), err)
	}
	if _, err := Without([]string{"PodSecurity", "PodSecurityPolicy"}); err == nil || !strings.Contains(err.Error(), `"PodSecurityPolicy" is unknown`) {
		t.Errorf("an unknown name: err = %v, want it named as unknown", err)
	}
}
