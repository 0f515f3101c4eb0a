package validation

import (
	"fmt"
	"math"
	"strings"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/flotilla-io/flotilla/pkg/flowcontrol"
)

// FlowSchemas and PriorityLevelConfigurations, as upstream's flowcontrol
// validation (through v1). The mandatory objects keep their fixed specs.

var (
	flowVerbs            = []string{"create", "delete", "deletecollection", "get", "list", "patch", "proxy", "update", "watch"}
	flowSubjectKinds     = []string{string(flowcontrolv1.SubjectKindGroup), string(flowcontrolv1.SubjectKindServiceAccount), string(flowcontrolv1.SubjectKindUser)}
	flowDistinguishers   = []string{string(flowcontrolv1.FlowDistinguisherMethodByNamespaceType), string(flowcontrolv1.FlowDistinguisherMethodByUserType)}
	priorityLevelTypes   = []string{string(flowcontrolv1.PriorityLevelEnablementExempt), string(flowcontrolv1.PriorityLevelEnablementLimited)}
	limitResponseTypes   = []string{string(flowcontrolv1.LimitResponseTypeQueue), string(flowcontrolv1.LimitResponseTypeReject)}
	maxPriorityQueues    = int32(10 * 1000 * 1000)
	maxShuffleShardBits  = 60
	flowSchemaMaxMatches = int32(10000)
)

// preserveZeroSharesAnnotation is refused on v1 objects.
const preserveZeroSharesAnnotation = "flowcontrol.k8s.io/v1beta3-preserve-zero-concurrency-shares"

func validateFlowSchema(fs *flowcontrolv1.FlowSchema) field.ErrorList {
	errs := validateMeta(fs, false, nameIsDNSSubdomain)
	spec := field.NewPath("spec")
	errs = append(errs, validateFlowSchemaSpec(fs.Name, &fs.Spec, spec)...)
	for _, m := range flowcontrol.MandatoryFlowSchemas() {
		if m.Name == fs.Name && !apiequality.Semantic.DeepEqual(fs.Spec, m.Spec) {
			errs = append(errs, field.Invalid(spec, fs.Spec, fmt.Sprintf("spec of '%s' must equal the fixed value", fs.Name)))
		}
	}
	return append(errs, validateFlowSchemaStatus(fs)...)
}

func validateFlowSchemaSpec(name string, s *flowcontrolv1.FlowSchemaSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	mp := path.Child("matchingPrecedence")
	if s.MatchingPrecedence <= 0 {
		errs = append(errs, field.Invalid(mp, s.MatchingPrecedence, "must be a positive value"))
	}
	if s.MatchingPrecedence > flowSchemaMaxMatches {
		errs = append(errs, field.Invalid(mp, s.MatchingPrecedence, fmt.Sprintf("must not be greater than %v", flowSchemaMaxMatches)))
	}
	if s.MatchingPrecedence == 1 && name != flowcontrolv1.FlowSchemaNameExempt {
		errs = append(errs, field.Invalid(mp, s.MatchingPrecedence, "only the schema named 'exempt' may have matchingPrecedence 1"))
	}
	if d := s.DistinguisherMethod; d != nil && !contains(flowDistinguishers, string(d.Type)) {
		errs = append(errs, field.NotSupported(path.Child("distinguisherMethod", "type"), d, flowDistinguishers))
	}
	pl := path.Child("priorityLevelConfiguration", "name")
	if n := s.PriorityLevelConfiguration.Name; n != "" {
		errs = append(errs, invalidAll(pl, n, nameIsDNSSubdomain(n, false))...)
	} else {
		errs = append(errs, field.Required(pl, "must reference a priority level"))
	}
	for i := range s.Rules {
		errs = append(errs, validateFlowRules(&s.Rules[i], path.Child("rules").Index(i))...)
	}
	return errs
}

func validateFlowRules(r *flowcontrolv1.PolicyRulesWithSubjects, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.Subjects) == 0 {
		errs = append(errs, field.Required(path.Child("subjects"), "subjects must contain at least one value"))
	}
	for i := range r.Subjects {
		errs = append(errs, validateFlowSubject(&r.Subjects[i], path.Child("subjects").Index(i))...)
	}
	if len(r.ResourceRules) == 0 && len(r.NonResourceRules) == 0 {
		errs = append(errs, field.Required(path, "at least one of resourceRules and nonResourceRules has to be non-empty"))
	}
	for i := range r.ResourceRules {
		errs = append(errs, validateResourceRule(&r.ResourceRules[i], path.Child("resourceRules").Index(i))...)
	}
	for i := range r.NonResourceRules {
		errs = append(errs, validateNonResourceRule(&r.NonResourceRules[i], path.Child("nonResourceRules").Index(i))...)
	}
	return errs
}

func validateFlowSubject(s *flowcontrolv1.Subject, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	forbid := func(set bool, name, kind string) {
		if set {
			errs = append(errs, field.Forbidden(path.Child(name), fmt.Sprintf("%s is forbidden when subject kind is not '%s'", name, kind)))
		}
	}
	named := func(set bool, name, kind, child string) {
		if !set {
			errs = append(errs, field.Required(path.Child(name), fmt.Sprintf("%s is required when subject kind is '%s'", name, kind)))
		} else if child == "" {
			errs = append(errs, field.Required(path.Child(name, "name"), ""))
		}
	}
	switch s.Kind {
	case flowcontrolv1.SubjectKindServiceAccount:
		sa, p := s.ServiceAccount, path.Child("serviceAccount")
		if sa == nil {
			errs = append(errs, field.Required(p, "serviceAccount is required when subject kind is 'ServiceAccount'"))
		} else {
			if sa.Name == "" {
				errs = append(errs, field.Required(p.Child("name"), ""))
			} else if sa.Name != flowcontrolv1.NameAll {
				errs = append(errs, invalidAll(p.Child("name"), sa.Name, apivalidation.ValidateServiceAccountName(sa.Name, false))...)
			}
			if sa.Namespace == "" {
				errs = append(errs, field.Required(p.Child("namespace"), "must specify namespace for service account"))
			} else {
				errs = append(errs, invalidAll(p.Child("namespace"), sa.Namespace, apivalidation.ValidateNamespaceName(sa.Namespace, false))...)
			}
		}
		forbid(s.User != nil, "user", "User")
		forbid(s.Group != nil, "group", "Group")
	case flowcontrolv1.SubjectKindUser:
		named(s.User != nil, "user", "User", userName(s.User))
		forbid(s.ServiceAccount != nil, "serviceAccount", "ServiceAccount")
		forbid(s.Group != nil, "group", "Group")
	case flowcontrolv1.SubjectKindGroup:
		named(s.Group != nil, "group", "Group", groupName(s.Group))
		forbid(s.ServiceAccount != nil, "serviceAccount", "ServiceAccount")
		forbid(s.User != nil, "user", "User")
	default:
		errs = append(errs, field.NotSupported(path.Child("kind"), s.Kind, flowSubjectKinds))
	}
	return errs
}

func userName(u *flowcontrolv1.UserSubject) string {
	if u == nil {
		return ""
	}
	return u.Name
}

func groupName(g *flowcontrolv1.GroupSubject) string {
	if g == nil {
		return ""
	}
	return g.Name
}

// validateRuleVerbs: at least one verb, '*' alone or known verbs only.
func validateRuleVerbs(verbs []string, path *field.Path) field.ErrorList {
	switch {
	case len(verbs) == 0:
		return field.ErrorList{field.Required(path, "verbs must contain at least one value")}
	case contains(verbs, "*"):
		if len(verbs) > 1 {
			return field.ErrorList{field.Invalid(path, verbs, "if '*' is present, must not specify other verbs")}
		}
	case !sets.New(flowVerbs...).HasAll(verbs...):
		return field.ErrorList{field.NotSupported(path, verbs, flowVerbs)}
	}
	return nil
}

func validateResourceRule(r *flowcontrolv1.ResourcePolicyRule, path *field.Path) field.ErrorList {
	errs := validateRuleVerbs(r.Verbs, path.Child("verbs"))
	if len(r.APIGroups) == 0 {
		errs = append(errs, field.Required(path.Child("apiGroups"), "resource rules must supply at least one api group"))
	} else if len(r.APIGroups) > 1 && contains(r.APIGroups, "*") {
		errs = append(errs, field.Invalid(path.Child("apiGroups"), r.APIGroups, "if '*' is present, must not specify other api groups"))
	}
	if len(r.Resources) == 0 {
		errs = append(errs, field.Required(path.Child("resources"), "resource rules must supply at least one resource"))
	} else if len(r.Resources) > 1 && contains(r.Resources, "*") {
		errs = append(errs, field.Invalid(path.Child("resources"), r.Resources, "if '*' is present, must not specify other resources"))
	}
	switch {
	case len(r.Namespaces) == 0 && !r.ClusterScope:
		errs = append(errs, field.Required(path.Child("namespaces"), "resource rules that are not cluster scoped must supply at least one namespace"))
	case contains(r.Namespaces, "*"):
		if len(r.Namespaces) > 1 {
			errs = append(errs, field.Invalid(path.Child("namespaces"), r.Namespaces, "if '*' is present, must not specify other namespaces"))
		}
	default:
		for i, ns := range r.Namespaces {
			for _, m := range apivalidation.ValidateNamespaceName(ns, false) {
				errs = append(errs, field.Invalid(path.Child("namespaces").Index(i), ns, "each member of this list must be '*' or a DNS-1123 label; "+m))
			}
		}
	}
	return errs
}

func validateNonResourceRule(r *flowcontrolv1.NonResourcePolicyRule, path *field.Path) field.ErrorList {
	errs := validateRuleVerbs(r.Verbs, path.Child("verbs"))
	urls := path.Child("nonResourceURLs")
	switch {
	case len(r.NonResourceURLs) == 0:
		errs = append(errs, field.Required(urls, "nonResourceURLs must contain at least one value"))
	case contains(r.NonResourceURLs, "*"):
		if len(r.NonResourceURLs) > 1 {
			errs = append(errs, field.Invalid(urls, r.NonResourceURLs, "if '*' is present, must not specify other non-resource URLs"))
		}
	default:
		for i, u := range r.NonResourceURLs {
			if msg := nonResourceURLError(u); msg != "" {
				errs = append(errs, field.Invalid(urls.Index(i), u, msg))
			}
		}
	}
	return errs
}

func nonResourceURLError(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case p == "/":
		return ""
	case !strings.HasPrefix(p, "/"):
		return "must start with slash"
	case strings.Contains(p, " "):
		return "must not contain white-space"
	case strings.Contains(p, "//"):
		return "must not contain double slash"
	}
	if n := strings.Count(p, "*"); n > 1 || (n == 1 && !strings.HasSuffix(p, "/*")) {
		return "wildcard can only do suffix matching"
	}
	return ""
}

// validateConditionTypes: each condition has a type, each type once.
func validateConditionTypes(types []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, t := range types {
		idx := path.Index(i).Child("type")
		if seen.Has(t) {
			errs = append(errs, field.Duplicate(idx, t))
		}
		seen.Insert(t)
		if t == "" {
			errs = append(errs, field.Required(idx, "must not be empty"))
		}
	}
	return errs
}

func validateFlowSchemaStatus(fs *flowcontrolv1.FlowSchema) field.ErrorList {
	types := make([]string, len(fs.Status.Conditions))
	for i, c := range fs.Status.Conditions {
		types[i] = string(c.Type)
	}
	return validateConditionTypes(types, field.NewPath("status", "conditions"))
}

func validatePriorityLevel(pl *flowcontrolv1.PriorityLevelConfiguration) field.ErrorList {
	errs := validateMeta(pl, false, nameIsDNSSubdomain)
	if _, ok := pl.Annotations[preserveZeroSharesAnnotation]; ok {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "annotations"), fmt.Sprintf("annotation '%s' is forbidden", preserveZeroSharesAnnotation)))
	}
	spec := field.NewPath("spec")
	errs = append(errs, validatePriorityLevelSpec(pl.Name, &pl.Spec, spec)...)
	for _, m := range flowcontrol.MandatoryPriorityLevels() {
		if m.Name != pl.Name {
			continue
		}
		if pl.Name == flowcontrolv1.PriorityLevelConfigurationNameExempt {
			have := pl.Spec.DeepCopy()
			have.Exempt = m.Spec.Exempt
			if !apiequality.Semantic.DeepEqual(&m.Spec, have) {
				errs = append(errs, field.Invalid(spec, pl.Spec, fmt.Sprintf("spec of '%s' except the 'spec.exempt' field must equal the fixed value", pl.Name)))
			}
		} else if !apiequality.Semantic.DeepEqual(pl.Spec, m.Spec) {
			errs = append(errs, field.Invalid(spec, pl.Spec, fmt.Sprintf("spec of '%s' must equal the fixed value", pl.Name)))
		}
	}
	return append(errs, validatePriorityLevelStatus(pl)...)
}

func validatePriorityLevelSpec(name string, s *flowcontrolv1.PriorityLevelConfigurationSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if (name == flowcontrolv1.PriorityLevelConfigurationNameExempt) != (s.Type == flowcontrolv1.PriorityLevelEnablementExempt) {
		errs = append(errs, field.Invalid(path.Child("type"), s.Type, "type must be 'Exempt' if and only if name is 'exempt'"))
	}
	switch s.Type {
	case flowcontrolv1.PriorityLevelEnablementExempt:
		if s.Limited != nil {
			errs = append(errs, field.Forbidden(path.Child("limited"), "must be nil if the type is not Limited"))
		}
		if e := s.Exempt; e != nil {
			ep := path.Child("exempt")
			if n := e.NominalConcurrencyShares; n != nil && *n < 0 {
				errs = append(errs, field.Invalid(ep.Child("nominalConcurrencyShares"), *n, "must be a non-negative integer"))
			}
			errs = append(errs, validateLendable(e.LendablePercent, ep.Child("lendablePercent"))...)
		}
	case flowcontrolv1.PriorityLevelEnablementLimited:
		if s.Exempt != nil {
			errs = append(errs, field.Forbidden(path.Child("exempt"), "must be nil if the type is Limited"))
		}
		l, lp := s.Limited, path.Child("limited")
		if l == nil {
			errs = append(errs, field.Required(lp, "must not be empty when type is Limited"))
			break
		}
		if n := deref(l.NominalConcurrencyShares); n < 0 {
			errs = append(errs, field.Invalid(lp.Child("nominalConcurrencyShares"), n, "must be a non-negative integer"))
		}
		errs = append(errs, validateLimitResponse(&l.LimitResponse, lp.Child("limitResponse"))...)
		errs = append(errs, validateLendable(l.LendablePercent, lp.Child("lendablePercent"))...)
		if b := l.BorrowingLimitPercent; b != nil && *b < 0 {
			errs = append(errs, field.Invalid(lp.Child("borrowingLimitPercent"), *b, "if specified, must be a non-negative integer"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("type"), s.Type, priorityLevelTypes))
	}
	return errs
}

func validateLendable(p *int32, path *field.Path) field.ErrorList {
	if p != nil && (*p < 0 || *p > 100) {
		return field.ErrorList{field.Invalid(path, *p, "must be between 0 and 100, inclusive")}
	}
	return nil
}

func validateLimitResponse(lr *flowcontrolv1.LimitResponse, path *field.Path) field.ErrorList {
	switch lr.Type {
	case flowcontrolv1.LimitResponseTypeReject:
		if lr.Queuing != nil {
			return field.ErrorList{field.Forbidden(path.Child("queuing"), "must be nil if limited.limitResponse.type is not Limited")}
		}
	case flowcontrolv1.LimitResponseTypeQueue:
		if lr.Queuing == nil {
			return field.ErrorList{field.Required(path.Child("queuing"), "must not be empty if limited.limitResponse.type is Limited")}
		}
		return validateQueuing(lr.Queuing, path.Child("queuing"))
	default:
		return field.ErrorList{field.NotSupported(path.Child("type"), lr.Type, limitResponseTypes)}
	}
	return nil
}

func validateQueuing(q *flowcontrolv1.QueuingConfiguration, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.QueueLengthLimit <= 0 {
		errs = append(errs, field.Invalid(path.Child("queueLengthLimit"), q.QueueLengthLimit, "must be positive"))
	}
	if q.Queues <= 0 {
		errs = append(errs, field.Invalid(path.Child("queues"), q.Queues, "must be positive"))
	} else if q.Queues > maxPriorityQueues {
		errs = append(errs, field.Invalid(path.Child("queues"), q.Queues, fmt.Sprintf("must not be greater than %d", maxPriorityQueues)))
	}
	hand := path.Child("handSize")
	switch {
	case q.HandSize <= 0:
		errs = append(errs, field.Invalid(hand, q.HandSize, "must be positive"))
	case q.HandSize > q.Queues:
		errs = append(errs, field.Invalid(hand, q.HandSize, fmt.Sprintf("should not be greater than queues (%d)", q.Queues)))
	default:
		// Shuffle sharding draws handSize queues from a hash of at most
		// 60 bits.
		if bits := int(math.Ceil(math.Log2(float64(q.Queues)) * float64(q.HandSize))); bits > maxShuffleShardBits {
			errs = append(errs, field.Invalid(hand, q.HandSize, fmt.Sprintf("required entropy bits of deckSize %d and handSize %d should not be greater than %d", q.Queues, q.HandSize, maxShuffleShardBits)))
		}
	}
	return errs
}

func validatePriorityLevelStatus(pl *flowcontrolv1.PriorityLevelConfiguration) field.ErrorList {
	types := make([]string, len(pl.Status.Conditions))
	for i, c := range pl.Status.Conditions {
		types[i] = string(c.Type)
	}
	return validateConditionTypes(types, field.NewPath("status", "conditions"))
}
