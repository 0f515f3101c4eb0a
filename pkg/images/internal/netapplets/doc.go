// Command netapplets is the wget and nc of Flotilla's built-in busybox
// image (see pkg/images): one static Go executable that acts as the applet
// named by the base name of argv[0], with the options, messages and exit
// statuses of the busybox applets of the same names.
//
// It exists because the only busybox builds a Debian 12 machine can install
// lack these applets in a usable form: Debian's busybox 1.35 is configured
// without FEATURE_WGET_TIMEOUT, yet its wget still parses -T as a number and
// stores it through the NULL pointer that option then has as destination, so
// `wget -T 3 ...` dies with SIGSEGV before doing anything; and its nc is the
// small one without -z (no NC_EXTRA/NC_110_COMPAT). Upstream's busybox image
// has both, and Kubernetes users and tests rely on them (`wget -T 1 -q -O-`,
// `nc -z -w 1 HOST PORT`).
//
// pkg/images embeds the executable (netapplets.bin, written by
// `go generate ./pkg/images`) and links /bin/wget and /bin/nc of the image
// to it. Only the standard library is used, so that the binary stays small
// and its freshness test only has to hash this directory.
package main
