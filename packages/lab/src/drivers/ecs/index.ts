export { EcsDriver, ECS_AGENT_SOCKET, ECS_WORKSPACE_HOME, type EcsDriverDeps, type TaskStop } from './ecs-driver.ts'
export { DEFAULT_AGENT_PORT, type EcsDriverOptions } from './options.ts'
export { taskKey, tlsPskDialer, type AgentDialer } from './transport.ts'
export { AGENT_KEY_FILE, ecsOptionsFromConfig, resolveAgentKey } from './from-config.ts'
