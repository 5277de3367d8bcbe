package deploy

import (
	"context"
	"testing"

	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestStudioServiceAccountRunsAProject makes, as studio's ServiceAccount,
// the objects the runtime makes for one project, hibernates and wakes it,
// and deletes it; then checks that the same identity is refused the calls
// that would reach past the project.
func TestStudioServiceAccountRunsAProject(t *testing.T) {
	applyForReal(t, render(t, "kubernetes"), "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding")
	ctx := t.Context()
	studio := asStudio(t)
	// A fresh project id each run: a deleted namespace lingers while its
	// contents are removed.
	id := uuid.NewString()
	ns, pvName := "studio-"+id, "studio-test-"+id
	create := metav1.CreateOptions{}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s as studio: %v", what, err)
		}
	}

	_, err := studio.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns,
		Labels: map[string]string{
			"studio.managed": "true", "studio.instance": "test", "studio.project": id,
			"pod-security.kubernetes.io/enforce": "restricted",
		},
	}}, create)
	must("create the project namespace", err)
	// t.Context() ends before cleanups run.
	t.Cleanup(func() { _ = admin(t).CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })

	labels := map[string]string{"app": "dev-server"}
	_, err = studio.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-server"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       restrictedPod("studio-runtime:test"),
			},
		},
	}, create)
	must("create the Deployment", err)
	for _, replicas := range []int32{0, 1} {
		_, err = studio.AppsV1().Deployments(ns).UpdateScale(ctx, "dev-server", &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Name: "dev-server", Namespace: ns},
			Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
		}, metav1.UpdateOptions{})
		must("scale the Deployment", err)
	}
	_, err = studio.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-server"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 5173}}},
	}, create)
	must("create the Service", err)
	_, err = studio.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-server"},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	}, create)
	must("create the NetworkPolicy", err)
	_, err = studio.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "project"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}},
	}, create)
	must("create the ResourceQuota", err)
	_, err = studio.CoreV1().LimitRanges(ns).Create(ctx, &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "project"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		}}},
	}, create)
	must("create the LimitRange", err)

	_, err = studio.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource: corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{
				Server: "nfs.example.com", Path: "/exports/studio",
			}},
			ClaimRef: &corev1.ObjectReference{Namespace: ns, Name: "files"},
		},
	}, create)
	must("create the project's PersistentVolume", err)
	t.Cleanup(func() {
		_ = admin(t).CoreV1().PersistentVolumes().Delete(context.Background(), pvName, metav1.DeleteOptions{})
	})
	_, err = studio.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "files"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			StorageClassName: ptr.To(""),
			VolumeName:       pvName,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("50Gi"),
			}},
		},
	}, create)
	must("create the project's claim", err)

	_, err = studio.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=dev-server"})
	must("list the project's pods", err)
	_, err = studio.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	must("list the project's events", err)

	refused := map[string]error{}
	_, refused["read a secret"] = studio.CoreV1().Secrets("studio").Get(ctx, "studio-database", metav1.GetOptions{})
	_, refused["create a pod"] = studio.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "direct"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}, create)
	_, refused["bind a role"] = studio.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: ns}},
	}, create)
	_, refused["relabel the namespace"] = studio.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`), metav1.PatchOptions{})
	_, refused["list nodes"] = studio.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	for what, err := range refused {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as studio: got %v, want Forbidden", what, err)
		}
	}

	must("delete the project's PersistentVolume", studio.CoreV1().PersistentVolumes().Delete(ctx, pvName, metav1.DeleteOptions{}))
	must("delete the project namespace", studio.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
}

// restrictedPod is a pod as the runtime makes a project's: one that the
// restricted Pod Security level admits.
func restrictedPod(image string) corev1.PodSpec {
	return corev1.PodSpec{
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To[int64](1000),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:  "dev",
			Image: image,
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
}
