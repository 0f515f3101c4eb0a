package sim

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Nodes: 2}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.NamePrefix != "sim" || c.Pods != 110 || c.CPU.String() != "32" || c.Memory.String() != "256Gi" ||
		c.LeaseRenewInterval != 10*time.Second || c.StatusInterval != 40*time.Second || c.Workers != 16 || c.RestartDelay != 10*time.Second {
		t.Errorf("defaults: %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no nodes", Config{}, "nodes"},
		{"bad prefix", Config{Nodes: 1, NamePrefix: "Sim_"}, "name prefix"},
		{"too many pods", Config{Nodes: 1, Pods: maxPodsPerNode + 1}, "pods"},
		{"negative cpu", Config{Nodes: 1, CPU: resource.MustParse("-1")}, "negative"},
		{"bad label key", Config{Nodes: 1, Labels: map[string]string{"a b": "c"}}, "label"},
		{"bad label value", Config{Nodes: 1, Labels: map[string]string{"a": "c d"}}, "label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.withDefaults()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one about %q", err, tc.want)
			}
		})
	}
}

func TestStagger(t *testing.T) {
	for _, tc := range []struct {
		n        int
		interval time.Duration
		tick     time.Duration
		batch    int
	}{
		{1, 10 * time.Second, 10 * time.Second, 1},
		{100, 10 * time.Second, 100 * time.Millisecond, 1},
		{500, 10 * time.Second, 20 * time.Millisecond, 1},
		{5000, 10 * time.Second, 20 * time.Millisecond, 10},
		{3, 10 * time.Millisecond, 10 * time.Millisecond, 3},
	} {
		tick, batch := stagger(tc.n, tc.interval)
		if tick != tc.tick || batch != tc.batch {
			t.Errorf("stagger(%d, %v) = %v, %d; want %v, %d", tc.n, tc.interval, tick, batch, tc.tick, tc.batch)
		}
	}
}
