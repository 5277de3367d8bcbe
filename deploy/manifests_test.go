package deploy

import (
	"io"
	"net"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"studio/config"
)

// TestStudioDeploymentMatchesStudio checks the rendered Deployment against
// what studio itself reads: its settings go through config.Load, so the port,
// the data folder and the claim are the ones studio will really use.
func TestStudioDeploymentMatchesStudio(t *testing.T) {
	t.Parallel()
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			objects := render(t, dir)
			d, c := studioDeployment(t, objects)
			cfg, settings := studioConfig(t, objects)

			if c.Image == "studio" {
				t.Errorf("image %q: the kustomization's images: entry did not apply", c.Image)
			}
			if got := settings["STUDIO_RUNTIME"]; got != "kubernetes" {
				t.Errorf("STUDIO_RUNTIME = %q, want kubernetes", got)
			}

			_, port, _ := net.SplitHostPort(cfg.Addr)
			if len(c.Ports) != 1 || strconv.Itoa(int(c.Ports[0].ContainerPort)) != port {
				t.Errorf("container ports %v, studio listens on %s", c.Ports, cfg.Addr)
			}
			claim := settings["STUDIO_KUBE_PROJECTS_CLAIM"]
			// The claim is studio's data folder: the Kubernetes runtime takes
			// a project's subPath relative to it, and checkpoints
			// (DataDir/checkpoints) are shared by every replica.
			checkMount(t, d.Spec.Template.Spec.Volumes, c.VolumeMounts, cfg.DataDir(), claim, "")
			checkMount(t, d.Spec.Template.Spec.Volumes, c.VolumeMounts, "/tmp", "", "")

			checkSecretEnv(t, c.Env, "STUDIO_DATABASE_URL", "studio-database", "url")
			checkSecretEnv(t, c.Env, "STUDIO_SECRET_KEY", "studio-secret", "key")

			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
				t.Errorf("readiness probe %+v, want GET /readyz", c.ReadinessProbe)
			}
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Errorf("liveness probe %+v, want GET /healthz", c.LivenessProbe)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				t.Errorf("replicas %v, want at least 2", d.Spec.Replicas)
			}
			if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("rolling update %+v, want maxUnavailable 0", ru)
			}
			if d.Spec.Template.Spec.ServiceAccountName != "studio" {
				t.Errorf("service account %q, want studio", d.Spec.Template.Spec.ServiceAccountName)
			}
			if got := d.Spec.Template.Labels["app.kubernetes.io/name"]; got != "studio" {
				t.Errorf("pod label app.kubernetes.io/name = %q; project NetworkPolicies admit only studio", got)
			}

			pdb := typed[policyv1.PodDisruptionBudget](t, find(t, objects, "PodDisruptionBudget", "studio"))
			if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
				t.Errorf("PodDisruptionBudget minAvailable %v, want 1", pdb.Spec.MinAvailable)
			}
			svc := typed[corev1.Service](t, find(t, objects, "Service", "studio"))
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("Service ports %+v, want 80 -> http", svc.Spec.Ports)
			}
			pvc := typed[corev1.PersistentVolumeClaim](t, find(t, objects, "PersistentVolumeClaim", claim))
			if len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != corev1.ReadWriteMany {
				t.Errorf("claim %s access modes %v, want ReadWriteMany", claim, pvc.Spec.AccessModes)
			}
		})
	}
}

// studioConfig is what studio makes of the rendered ConfigMap's settings,
// with the two Secrets as the README makes them, and the settings
// themselves.
func studioConfig(t *testing.T, objects []*unstructured.Unstructured) (*config.Config, map[string]string) {
	t.Helper()
	settings := typed[corev1.ConfigMap](t, findPrefix(t, objects, "ConfigMap", "studio-")).Data
	env := map[string]string{
		"STUDIO_DATABASE_URL": "postgres://studio:secret@db.example.internal:5432/studio?sslmode=require",
		"STUDIO_SECRET_KEY":   "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH",
	}
	for k, v := range settings {
		env[k] = v
	}
	cfg, err := config.Load("serve", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("studio refuses the ConfigMap's settings: %v", err)
	}
	return cfg, settings
}

// checkMount fails unless mountPath is mounted from the claim (or, with no
// claim, from an emptyDir) at subPath.
func checkMount(t *testing.T, volumes []corev1.Volume, mounts []corev1.VolumeMount, mountPath, claim, subPath string) {
	t.Helper()
	for _, m := range mounts {
		if m.MountPath != mountPath {
			continue
		}
		if m.SubPath != subPath || m.ReadOnly {
			t.Errorf("%s: subPath %q read-only %v, want subPath %q, writable", mountPath, m.SubPath, m.ReadOnly, subPath)
		}
		for _, v := range volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case claim == "" && v.EmptyDir == nil:
				t.Errorf("%s: volume %s is not an emptyDir", mountPath, v.Name)
			case claim != "" && (v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claim):
				t.Errorf("%s: volume %s is not the claim %s", mountPath, v.Name, claim)
			}
			return
		}
		t.Errorf("%s: no volume named %s", mountPath, m.Name)
		return
	}
	t.Errorf("nothing is mounted at %s", mountPath)
}

// checkSecretEnv fails unless the variable comes from that Secret's key.
func checkSecretEnv(t *testing.T, env []corev1.EnvVar, name, secret, key string) {
	t.Helper()
	for _, e := range env {
		if e.Name == name {
			ref := e.ValueFrom
			if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != secret || ref.SecretKeyRef.Key != key {
				t.Errorf("%s comes from %+v, want Secret %s key %s", name, ref, secret, key)
			}
			return
		}
	}
	t.Errorf("%s is not set", name)
}
