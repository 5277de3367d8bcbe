package deploy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStudioPodIsRestricted creates (dry run) a pod from studio's Deployment
// template in the rendered studio namespace, where the API server enforces
// the restricted Pod Security level, and checks that the same pod with one
// hardening setting removed is refused there, so the pass means something.
func TestStudioPodIsRestricted(t *testing.T) {
	objects := render(t, "kubernetes")
	ns := find(t, objects, "Namespace", "studio")
	if got := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Fatalf("namespace studio enforces Pod Security level %q, want restricted", got)
	}
	applyForReal(t, objects, "Namespace", "ServiceAccount")
	d, _ := studioDeployment(t, objects)

	pod := func(name string, change func(*corev1.PodSpec)) *corev1.Pod {
		spec := d.Spec.Template.Spec.DeepCopy()
		if change != nil {
			change(spec)
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: d.Spec.Template.Labels},
			Spec:       *spec,
		}
	}
	create := func(p *corev1.Pod) error {
		_, err := admin(t).CoreV1().Pods(p.Namespace).Create(t.Context(), p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}

	if err := create(pod("studio-as-rendered", nil)); err != nil {
		t.Fatalf("studio's pod is refused in a restricted namespace: %v", err)
	}

	weakened := map[string]func(*corev1.PodSpec){
		"capabilities kept": func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Capabilities = nil },
		"privilege escalation allowed": func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
		},
		"no seccomp profile": func(s *corev1.PodSpec) {
			s.SecurityContext.SeccompProfile = nil
			s.Containers[0].SecurityContext.SeccompProfile = nil
		},
		"may run as root": func(s *corev1.PodSpec) {
			s.SecurityContext.RunAsNonRoot = nil
			s.SecurityContext.RunAsUser = nil
			s.Containers[0].SecurityContext.RunAsNonRoot = nil
		},
	}
	for name, change := range weakened {
		err := create(pod("studio-weakened", change))
		if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
			t.Errorf("%s: the restricted namespace answered %v, want a PodSecurity refusal", name, err)
		}
	}
}
