package printers

import (
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Columns of rbac.authorization.k8s.io, as upstream's printers: roles show
// when they were created, bindings the role they grant and, wide, whom.

var roleColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Created At", "date", objectMetaDoc["creationTimestamp"]),
}

func createdAt(t metav1.Time) string { return t.UTC().Format(time.RFC3339) }

func roleRow(r *rbacv1.Role, _ time.Time) metav1.TableRow {
	return cells(r.Name, createdAt(r.CreationTimestamp))
}

func clusterRoleRow(r *rbacv1.ClusterRole, _ time.Time) metav1.TableRow {
	return cells(r.Name, createdAt(r.CreationTimestamp))
}

var roleBindingColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Role", "string", rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]),
	ageColumn(),
	wide(column("Users", "string", "Users in the roleBinding")),
	wide(column("Groups", "string", "Groups in the roleBinding")),
	wide(column("ServiceAccounts", "string", "ServiceAccounts in the roleBinding")),
}

func roleBindingRow(b *rbacv1.RoleBinding, now time.Time) metav1.TableRow {
	return bindingCells(b.Name, b.RoleRef, b.Subjects, age(b.CreationTimestamp, now))
}

func clusterRoleBindingRow(b *rbacv1.ClusterRoleBinding, now time.Time) metav1.TableRow {
	return bindingCells(b.Name, b.RoleRef, b.Subjects, age(b.CreationTimestamp, now))
}

func bindingCells(name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, age string) metav1.TableRow {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			if s.Namespace != "" {
				sas = append(sas, s.Namespace+"/"+s.Name)
			} else {
				sas = append(sas, s.Name)
			}
		}
	}
	return cells(name, ref.Kind+"/"+ref.Name, age, strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", "))
}
