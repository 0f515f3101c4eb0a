package main

import (
	"fmt"
	"strings"
)

// argKind says whether an option takes an argument.
type argKind int

const (
	noArg       argKind = iota
	requiredArg         // "-O FILE", "-OFILE", "--output-document=FILE", "--output-document FILE"
	optionalArg         // only attached: "-nv", "--opt=VAL"
)

// optSpec describes the options of one applet the way getopt_long, which
// busybox's getopt32 wraps, understands them.
type optSpec struct {
	short map[byte]argKind
	// long maps a long option to the key it is reported under (usually
	// its short letter) and its argument kind.
	long map[string]longOpt
}

type longOpt struct {
	key string
	arg argKind
}

// opt is one parsed option: key is the short letter, or the key of a long
// option without one.
type opt struct {
	key string
	val string
}

// parseOpts parses args (without argv[0]) as GNU getopt_long does by
// default: options and operands may be mixed, "--" ends the options, short
// options may be clustered and take their argument attached or as the next
// word, and long options may be abbreviated to any unique prefix.
func parseOpts(args []string, spec optSpec) (opts []opt, operands []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return opts, append(operands, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			key, lo, err := spec.lookupLong(name)
			if err != nil {
				return nil, nil, err
			}
			switch lo.arg {
			case noArg:
				if hasVal {
					return nil, nil, fmt.Errorf("option '--%s' doesn't allow an argument", key)
				}
			case requiredArg:
				if !hasVal {
					if i+1 >= len(args) {
						return nil, nil, fmt.Errorf("option '--%s' requires an argument", key)
					}
					i++
					val = args[i]
				}
			}
			opts = append(opts, opt{key: lo.key, val: val})
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				c := a[j]
				kind, ok := spec.short[c]
				if !ok {
					return nil, nil, fmt.Errorf("invalid option -- '%c'", c)
				}
				if kind == noArg {
					opts = append(opts, opt{key: string(c)})
					continue
				}
				val := a[j+1:]
				if val == "" && kind == requiredArg {
					if i+1 >= len(args) {
						return nil, nil, fmt.Errorf("option requires an argument -- '%c'", c)
					}
					i++
					val = args[i]
				}
				opts = append(opts, opt{key: string(c), val: val})
				break
			}
		default:
			operands = append(operands, a)
		}
	}
	return opts, operands, nil
}

// lookupLong finds a long option by its full name or a unique prefix.
func (s optSpec) lookupLong(name string) (string, longOpt, error) {
	if lo, ok := s.long[name]; ok {
		return name, lo, nil
	}
	var match string
	for n := range s.long {
		if strings.HasPrefix(n, name) && name != "" {
			if match != "" && s.long[match] != s.long[n] {
				return "", longOpt{}, fmt.Errorf("option '--%s' is ambiguous", name)
			}
			match = n
		}
	}
	if match == "" {
		return "", longOpt{}, fmt.Errorf("unrecognized option '--%s'", name)
	}
	return match, s.long[match], nil
}
