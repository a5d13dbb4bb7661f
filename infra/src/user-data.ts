/** Lines of the ECS agent config the shell instances need (written to /etc/ecs/ecs.config). */
export function ecsAgentConfig(): string[] {
  // ECS_CLUSTER is appended by Cluster.addAsgCapacityProvider.
  return [
    // Instances in the warm pool must not register with the cluster until they are put in service.
    'ECS_WARM_POOLS_CHECK=true',
    // Use the pre-pulled sandbox image; pull only when it is missing.
    'ECS_IMAGE_PULL_BEHAVIOR=prefer-cached',
    'ECS_ENABLE_TASK_ENI=true',
    // Sandbox tasks (awsvpc) cannot reach the instance metadata service, so a user's shell can
    // never take the instance role's credentials (the host's own ECS agent still reaches it).
    'ECS_AWSVPC_BLOCK_IMDS=true',
  ]
}

/**
 * User data for a shell instance. It runs at first boot, which for a warm-pool instance is when
 * it enters the pool (launched, prepared, then stopped or hibernated), so the image pull is paid
 * before the instance is ever needed. ECR login uses the instance role.
 */
export function shellUserData(sandboxImage: string): string[] {
  const registry = sandboxImage.includes('.dkr.ecr.') ? sandboxImage.split('/')[0]! : undefined
  const region = registry?.split('.')[3]
  return [
    'set -euo pipefail',
    'mkdir -p /etc/ecs',
    'systemctl is-active --quiet docker || systemctl start docker',
    ...ecsAgentConfig().map((l) => `echo '${l}' >> /etc/ecs/ecs.config`),
    ...(registry ? [`aws ecr get-login-password --region ${region} | docker login --username AWS --password-stdin ${registry}`] : []),
    // Image pre-pull: retried, so a slow registry at boot does not leave a cold instance.
    `for i in 1 2 3 4 5; do docker pull ${sandboxImage} && break; sleep $((i * 5)); done`,
  ]
}
