package validation

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CertificateSigningRequests, as upstream's certificates validation: the
// request must be a signed PKCS#10 request, conditions follow upstream's
// rules, and each way of writing (the object, /status, /approval) may
// change only its own part. Leniency for data stored by older servers is
// kept (upstream's allow* options), decided from the old object.

// legacyUnknownSignerName is refused through the v1 API.
const legacyUnknownSignerName = "kubernetes.io/legacy-unknown"

var validKeyUsages = []certificatesv1.KeyUsage{
	certificatesv1.UsageSigning, certificatesv1.UsageDigitalSignature, certificatesv1.UsageContentCommitment,
	certificatesv1.UsageKeyEncipherment, certificatesv1.UsageKeyAgreement, certificatesv1.UsageDataEncipherment,
	certificatesv1.UsageCertSign, certificatesv1.UsageCRLSign, certificatesv1.UsageEncipherOnly,
	certificatesv1.UsageDecipherOnly, certificatesv1.UsageAny, certificatesv1.UsageServerAuth,
	certificatesv1.UsageClientAuth, certificatesv1.UsageCodeSigning, certificatesv1.UsageEmailProtection,
	certificatesv1.UsageSMIME, certificatesv1.UsageIPsecEndSystem, certificatesv1.UsageIPsecTunnel,
	certificatesv1.UsageIPsecUser, certificatesv1.UsageTimestamping, certificatesv1.UsageOCSPSigning,
	certificatesv1.UsageMicrosoftSGC, certificatesv1.UsageNetscapeSGC,
}

// csrOptions are upstream's certificateValidationOptions.
type csrOptions struct {
	approvalConditions  bool // /approval may add Approved and Denied
	setCertificate      bool // /status may set status.certificate
	approvedAndDenied   bool
	legacySignerName    bool
	duplicateConditions bool
	emptyConditionType  bool
	arbitraryCert       bool
	unknownUsages       bool
	duplicateUsages     bool
}

func csrOptionsFor(csr, old *certificatesv1.CertificateSigningRequest) csrOptions {
	if old == nil {
		return csrOptions{}
	}
	o := csrOptions{legacySignerName: old.Spec.SignerName == legacyUnknownSignerName}
	approved, denied := false, false
	seen := map[certificatesv1.RequestConditionType]bool{}
	for _, c := range old.Status.Conditions {
		approved = approved || c.Type == certificatesv1.CertificateApproved
		denied = denied || c.Type == certificatesv1.CertificateDenied
		o.duplicateConditions = o.duplicateConditions || seen[c.Type]
		o.emptyConditionType = o.emptyConditionType || c.Type == ""
		seen[c.Type] = true
	}
	o.approvedAndDenied = approved && denied
	o.arbitraryCert = bytes.Equal(csr.Status.Certificate, old.Status.Certificate) || validateCertificatePEM(old.Status.Certificate) != nil
	usages := map[certificatesv1.KeyUsage]bool{}
	for _, u := range old.Spec.Usages {
		o.unknownUsages = o.unknownUsages || !contains(validKeyUsages, u)
		o.duplicateUsages = o.duplicateUsages || usages[u]
		usages[u] = true
	}
	return o
}

func validateCSR(csr *certificatesv1.CertificateSigningRequest) field.ErrorList {
	return validateCSRWith(csr, csrOptionsFor(csr, nil))
}

func validateCSRWith(csr *certificatesv1.CertificateSigningRequest, o csrOptions) field.ErrorList {
	anyName := func(string, bool) []string { return nil }
	errs := validateMeta(csr, false, anyName)
	spec := field.NewPath("spec")
	if err := checkCSRRequest(csr.Spec.Request); err != nil {
		errs = append(errs, field.Invalid(spec.Child("request"), csr.Spec.Request, err.Error()))
	}
	if len(csr.Spec.Usages) == 0 {
		errs = append(errs, field.Required(spec.Child("usages"), ""))
	}
	if !o.unknownUsages {
		for i, u := range csr.Spec.Usages {
			if !contains(validKeyUsages, u) {
				errs = append(errs, field.NotSupported(spec.Child("usages").Index(i), u, sortedStrings(validKeyUsages)))
			}
		}
	}
	if !o.duplicateUsages {
		seen := map[certificatesv1.KeyUsage]bool{}
		for i, u := range csr.Spec.Usages {
			if seen[u] {
				errs = append(errs, field.Duplicate(spec.Child("usages").Index(i), u))
			}
			seen[u] = true
		}
	}
	if !o.legacySignerName && csr.Spec.SignerName == legacyUnknownSignerName {
		errs = append(errs, field.Invalid(spec.Child("signerName"), csr.Spec.SignerName, "the legacy signerName is not allowed via this API version"))
	} else {
		errs = append(errs, validateSignerName(spec.Child("signerName"), csr.Spec.SignerName)...)
	}
	if e := csr.Spec.ExpirationSeconds; e != nil && *e < 600 {
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), *e, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	errs = append(errs, validateCSRConditions(field.NewPath("status", "conditions"), csr, o)...)
	if !o.arbitraryCert {
		if err := validateCertificatePEM(csr.Status.Certificate); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("status", "certificate"), "<certificate data>", err.Error()))
		}
	}
	return errs
}

// checkCSRRequest parses a PEM CERTIFICATE REQUEST and checks its
// signature.
func checkCSRRequest(data []byte) error {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return err
	}
	return req.CheckSignature()
}

// validateCertificatePEM accepts an empty certificate or one or more
// CERTIFICATE blocks without headers.
func validateCertificatePEM(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	blocks := 0
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("only CERTIFICATE PEM blocks are allowed, found %q", block.Type)
		}
		if len(block.Headers) != 0 {
			return errors.New("no PEM block headers are permitted")
		}
		blocks++
		certs, err := x509.ParseCertificates(block.Bytes)
		if err != nil {
			return err
		}
		if len(certs) == 0 {
			return errors.New("found CERTIFICATE PEM block containing 0 certificates")
		}
		data = rest
	}
	if blocks == 0 {
		return errors.New("must contain at least one CERTIFICATE PEM block")
	}
	return nil
}

func validateCSRConditions(path *field.Path, csr *certificatesv1.CertificateSigningRequest, o csrOptions) field.ErrorList {
	var errs field.ErrorList
	seen := map[certificatesv1.RequestConditionType]bool{}
	approved, denied := false, false
	for i, c := range csr.Status.Conditions {
		idx := path.Index(i)
		if !o.emptyConditionType && c.Type == "" {
			errs = append(errs, field.Required(idx.Child("type"), ""))
		}
		allowed := []string{string(corev1.ConditionFalse), string(corev1.ConditionTrue), string(corev1.ConditionUnknown)}
		switch c.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			allowed = []string{string(corev1.ConditionTrue)}
		}
		switch {
		case c.Status == "":
			errs = append(errs, field.Required(idx.Child("status"), ""))
		case !contains(allowed, string(c.Status)):
			errs = append(errs, field.NotSupported(idx.Child("status"), c.Status, allowed))
		}
		if !o.approvedAndDenied {
			switch c.Type {
			case certificatesv1.CertificateApproved:
				approved = true
				if denied {
					errs = append(errs, field.Invalid(idx.Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
				}
			case certificatesv1.CertificateDenied:
				denied = true
				if approved {
					errs = append(errs, field.Invalid(idx.Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
				}
			}
		}
		if !o.duplicateConditions {
			if seen[c.Type] {
				errs = append(errs, field.Duplicate(idx.Child("type"), c.Type))
			}
			seen[c.Type] = true
		}
	}
	return errs
}

// validateSignerName is upstream's rule: DOMAIN/PATH, the domain of at
// least two DNS labels, the path of DNS subdomains.
func validateSignerName(path *field.Path, name string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	parts := strings.Split(name, "/")
	if len(parts) != 2 {
		return field.ErrorList{field.Invalid(path, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	maxDomain := utilvalidation.DNS1123SubdomainMaxLength
	if len(parts[0]) > maxDomain {
		errs = append(errs, field.TooLong(path, "", maxDomain))
	}
	domainLabels := strings.Split(parts[0], ".")
	for _, l := range domainLabels {
		if msgs := utilvalidation.IsDNS1123Label(l); len(msgs) > 0 {
			for _, m := range msgs {
				errs = append(errs, field.Invalid(path, parts[0], fmt.Sprintf("validating label %q: %s", l, m)))
			}
			break
		}
	}
	if len(domainLabels) < 2 {
		errs = append(errs, field.Invalid(path, parts[0], "should be a domain with at least two segments separated by dots"))
	}
	for _, l := range strings.Split(parts[1], ".") {
		if msgs := utilvalidation.IsDNS1123Subdomain(l); len(msgs) > 0 {
			for _, m := range msgs {
				errs = append(errs, field.Invalid(path, parts[1], fmt.Sprintf("validating label %q: %s", l, m)))
			}
			break
		}
	}
	maxPath := utilvalidation.DNS1123SubdomainMaxLength + utilvalidation.DNS1123LabelMaxLength + 1
	if max := maxDomain + maxPath + 1; len(name) > max {
		errs = append(errs, field.TooLong(path, "", max))
	}
	return errs
}

// csrWrite names the way a CSR is written: the object, /status or
// /approval.
type csrWrite int

const (
	csrWriteObject csrWrite = iota
	csrWriteStatus
	csrWriteApproval
)

func validateCSRUpdate(csr, old *certificatesv1.CertificateSigningRequest, how csrWrite) field.ErrorList {
	o := csrOptionsFor(csr, old)
	o.setCertificate = how == csrWriteStatus
	o.approvalConditions = how == csrWriteApproval
	errs := validateCSRWith(csr, o) // the metadata rules are the caller's
	conds := field.NewPath("status", "conditions")
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed} {
		if len(csrConditions(csr, t)) < len(csrConditions(old, t)) {
			errs = append(errs, field.Forbidden(conds, fmt.Sprintf("updates may not remove a condition of type %q", t)))
		}
	}
	if !o.approvalConditions {
		for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied} {
			now, was := csrConditions(csr, t), csrConditions(old, t)
			switch {
			case len(now) < len(was):
				// reported above
			case len(now) > len(was):
				errs = append(errs, field.Forbidden(conds, fmt.Sprintf("updates may not add a condition of type %q", t)))
			case !apiequality.Semantic.DeepEqual(was, now):
				errs = append(errs, field.Forbidden(conds, fmt.Sprintf("updates may not modify a condition of type %q", t)))
			}
		}
	}
	if !bytes.Equal(csr.Status.Certificate, old.Status.Certificate) {
		switch {
		case !o.setCertificate:
			errs = append(errs, field.Forbidden(field.NewPath("status", "certificate"), "updates may not set certificate content"))
		case len(old.Status.Certificate) > 0:
			errs = append(errs, field.Forbidden(field.NewPath("status", "certificate"), "updates may not modify existing certificate content"))
		}
	}
	return errs
}

func csrConditions(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []certificatesv1.CertificateSigningRequestCondition {
	var out []certificatesv1.CertificateSigningRequestCondition
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			out = append(out, c)
		}
	}
	return out
}

// sortedStrings lists values sorted, as upstream's sets print them in
// NotSupported errors.
func sortedStrings[T ~string](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	slices.Sort(out)
	return out
}
