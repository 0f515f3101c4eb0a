package auditlog

import (
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/natefinch/lumberjack.v2"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"
)

// Config is upstream's --audit-* log flags.
type Config struct {
	PolicyFile string // --audit-policy-file
	Path       string // --audit-log-path; "-" = standard output
	MaxAge     int    // days to keep rotated files (0 = no limit)
	MaxBackups int    // rotated files to keep (0 = no limit)
	MaxSize    int    // megabytes before the file is rotated (0 = never)
}

// Log evaluates the policy and writes the events.
type Log struct {
	eval    audit.PolicyRuleEvaluator
	backend audit.Backend
	out     io.Writer
}

// New loads the policy and opens the log. Without a path there is no
// log (nil, nil), as upstream: a policy alone records nothing.
func New(cfg Config) (*Log, error) {
	if cfg.Path == "" {
		return nil, nil
	}
	if cfg.PolicyFile == "" {
		return nil, errors.New("--audit-log-path needs --audit-policy-file")
	}
	p, err := policy.LoadPolicyFromFile(cfg.PolicyFile)
	if err != nil {
		return nil, fmt.Errorf("audit policy: %w", err)
	}
	var out io.Writer = os.Stdout
	if cfg.Path != "-" {
		// Create the file now so a bad path fails the start, not the
		// first request; lumberjack then owns it.
		f, err := os.OpenFile(cfg.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		f.Close()
		out = &lumberjack.Logger{Filename: cfg.Path, MaxAge: cfg.MaxAge, MaxBackups: cfg.MaxBackups, MaxSize: cfg.MaxSize}
	}
	return &Log{
		eval:    policy.NewPolicyRuleEvaluator(p),
		backend: pluginlog.NewBackend(out, pluginlog.FormatJson, auditv1.SchemeGroupVersion),
		out:     out,
	}, nil
}

// EvaluatePolicyRule is the policy's decision for a request.
func (l *Log) EvaluatePolicyRule(attrs authorizer.Attributes) audit.RequestAuditConfig {
	return l.eval.EvaluatePolicyRule(attrs)
}

// ProcessEvents writes events, one JSON line each.
func (l *Log) ProcessEvents(events ...*auditinternal.Event) bool {
	return l.backend.ProcessEvents(events...)
}

// Close closes the log file.
func (l *Log) Close() error {
	if c, ok := l.out.(io.Closer); ok && l.out != os.Stdout {
		return c.Close()
	}
	return nil
}
