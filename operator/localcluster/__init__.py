"""A real local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)
built from Go modules, for the project's tests and demo. Development tooling, not part of the operator."""
