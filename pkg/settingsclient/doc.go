// Package settingsclient is the client-go side of settings.k8s.io/v1alpha1,
// which client-go no longer ships: a typed PodPreset client built on
// client-go's generic typed client, and a shared informer and lister the
// PodPreset admission plugin reads through.
package settingsclient
