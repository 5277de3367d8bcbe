package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// This file holds the whole security posture of a project on Kubernetes,
// the counterpart of the Docker runtime's containerConfig: what each object
// says, with no API calls.

// podSecurityLabel sets the Pod Security level a namespace enforces.
const podSecurityLabel = "pod-security.kubernetes.io/enforce"

// project is what the objects of one project are made from.
type project struct {
	id        string
	namespace string
	subPath   string // the project's folder on the projects volume
	uid, gid  int64
	env       []corev1.EnvVar // the project's own variables
}

func (k *Kube) namespaceObject(p project) *corev1.Namespace {
	l := k.labels(p.id)
	// The API server itself refuses any pod here that breaks the
	// restricted Pod Security profile, whoever creates it.
	l[podSecurityLabel] = "restricted"
	l["pod-security.kubernetes.io/enforce-version"] = "latest"
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.namespace, Labels: l}}
}

// quota bounds the namespace to one dev server's worth of CPU and memory,
// twice over: a pod that is still shutting down counts until it is gone,
// and a wake right after a stop must not wait for it.
func (k *Kube) quota(p project) *corev1.ResourceQuota {
	memory := *resource.NewQuantity(2*k.opts.Memory, resource.BinarySI)
	cpu := *resource.NewMilliQuantity(2*k.opts.MilliCPUs, resource.DecimalSI)
	return &corev1.ResourceQuota{
		// Server-side apply needs the kind in the body.
		TypeMeta:   metav1.TypeMeta{Kind: "ResourceQuota", APIVersion: "v1"},
		ObjectMeta: k.meta(p, "studio"),
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods:                   resource.MustParse("2"),
			corev1.ResourceLimitsMemory:           memory,
			corev1.ResourceLimitsCPU:              cpu,
			corev1.ResourceRequestsMemory:         memory,
			corev1.ResourceRequestsCPU:            cpu,
			corev1.ResourceServices:               resource.MustParse("1"),
			corev1.ResourceServicesLoadBalancers:  resource.MustParse("0"),
			corev1.ResourceServicesNodePorts:      resource.MustParse("0"),
			corev1.ResourcePersistentVolumeClaims: resource.MustParse("1"),
		}},
	}
}

// limitRange caps any one container at the configured limits, so nothing
// created in the namespace (by studio or not) can ask for more.
func (k *Kube) limitRange(p project) *corev1.LimitRange {
	limits := k.limits()
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{Kind: "LimitRange", APIVersion: "v1"},
		ObjectMeta: k.meta(p, "studio"),
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Max:            limits,
			Default:        limits,
			DefaultRequest: k.requests(),
		}}},
	}
}

func (k *Kube) limits() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceMemory: *resource.NewQuantity(k.opts.Memory, resource.BinarySI),
		corev1.ResourceCPU:    *resource.NewMilliQuantity(k.opts.MilliCPUs, resource.DecimalSI),
	}
}

// requests are what the scheduler reserves: a dev server idles far below
// its limits, so a node can hold many.
func (k *Kube) requests() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceMemory: *resource.NewQuantity(min(k.opts.Memory, 256<<20), resource.BinarySI),
		corev1.ResourceCPU:    *resource.NewMilliQuantity(min(k.opts.MilliCPUs, 100), resource.DecimalSI),
	}
}

// privateRanges are the addresses a dev server may not reach: the
// cluster's own networks, the node's, metadata services, loopback.
var (
	privateV4 = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8", "0.0.0.0/8",
		"168.63.129.16/32"} // Azure's host endpoint
	privateV6 = []string{"fc00::/7", "fe80::/10", "::1/128", "64:ff9b::/96"} // NAT64 reaches IPv4 inside too
)

// networkPolicy admits only studio's pods to the dev server, and lets the
// dev server reach DNS and the public internet (npm), nothing inside.
func (k *Kube) networkPolicy(p project) *networkingv1.NetworkPolicy {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := intstr.FromInt32(devServerPort)
	dns := intstr.FromInt32(53)
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{Kind: "NetworkPolicy", APIVersion: "networking.k8s.io/v1"},
		ObjectMeta: k.meta(p, devServer),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{}, // every pod in the namespace
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": k.opts.Namespace}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{labelApp: "studio"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{
					To: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
						PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
					}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
				},
				{To: []networkingv1.NetworkPolicyPeer{
					{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: privateV4}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: privateV6}},
				}},
			},
		},
	}
}

func (k *Kube) service(p project) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{Kind: "Service", APIVersion: "v1"},
		ObjectMeta: k.meta(p, devServer),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{labelProject: p.id},
			Ports: []corev1.ServicePort{{
				Name: "http", Port: devServerPort, TargetPort: intstr.FromInt32(devServerPort), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// volume is the project's PersistentVolume: the projects volume's own
// source, claimed by the project's namespace alone. Retain: deleting it
// never deletes what it points at.
func (k *Kube) volume(p project, shared *corev1.PersistentVolume) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: k.volumeName(p.id), Labels: k.labels(p.id)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      shared.Spec.Capacity,
			PersistentVolumeSource:        *shared.Spec.PersistentVolumeSource.DeepCopy(),
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "", // never provisioned nor reclaimed by a class
			MountOptions:                  shared.Spec.MountOptions,
			VolumeMode:                    shared.Spec.VolumeMode,
			NodeAffinity:                  shared.Spec.NodeAffinity.DeepCopy(),
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: p.namespace, Name: filesClaim,
			},
		},
	}
}

func (k *Kube) claim(p project, shared *corev1.PersistentVolume) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: k.meta(p, filesClaim),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			StorageClassName: ptr.To(""),
			VolumeName:       k.volumeName(p.id),
			VolumeMode:       shared.Spec.VolumeMode,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: shared.Spec.Capacity[corev1.ResourceStorage],
			}},
		},
	}
}

// deployment runs the dev server: an unprivileged user with no
// capabilities and no way to gain any, a read-only root file system,
// bounded memory and CPU, no service-account token, the project's folder
// at /app and size-limited scratch folders. Replicas is zero: Start scales
// it to one.
func (k *Kube) deployment(p project) *appsv1.Deployment {
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: k.labels(p.id)},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To(int64(k.opts.StopTimeout.Seconds())),
			// The pause container becomes PID 1 and reaps the zombies that
			// commands people run leave behind, as Docker's init does.
			ShareProcessNamespace: ptr.To(true),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsUser:      ptr.To(p.uid),
				RunAsGroup:     ptr.To(p.gid),
				RunAsNonRoot:   ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            devServer,
				Image:           k.opts.Image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				WorkingDir:      appDir,
				Env:             append([]corev1.EnvVar{{Name: "HOME", Value: projectHome}}, p.env...),
				Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: devServerPort, Protocol: corev1.ProtocolTCP}},
				Resources:       corev1.ResourceRequirements{Limits: k.limits(), Requests: k.requests()},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "files", MountPath: appDir, SubPath: p.subPath},
					{Name: "tmp", MountPath: "/tmp"},
					{Name: "home", MountPath: projectHome},
				},
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
			Volumes: []corev1.Volume{
				{Name: "files", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: filesClaim}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("512Mi"))}}},
				{Name: "home", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("256Mi"))}}},
			},
		},
	}
	d := &appsv1.Deployment{
		ObjectMeta: k.meta(p, devServer),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{labelProject: p.id}},
			// One dev server at a time writes the project's files.
			Strategy:             appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			RevisionHistoryLimit: ptr.To(int32(1)),
			Template:             template,
		},
	}
	d.Annotations = map[string]string{annotationSpec: specHash(template)}
	return d
}

func (k *Kube) meta(p project, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: p.namespace, Labels: k.labels(p.id)}
}

// specHash fingerprints a pod template, so Ensure can tell an up-to-date
// Deployment from one made by an older studio or for an older image.
func specHash(t corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
