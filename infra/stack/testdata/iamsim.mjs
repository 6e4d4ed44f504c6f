// Runs IAM decisions through @cloud-copilot/iam-simulate (AGPL-3.0, a test tool installed by
// `make tools` into .tools/node; never bundled or imported by shipped code).
// stdin: [{id, principal, action, resource, resourceAccount, context, identity: [policy],
//          resourcePolicy: policy|null}]
// stdout: [{id, result, error}] with result Allowed, ExplicitlyDenied or ImplicitlyDenied.
import { createRequire } from 'node:module'
import path from 'node:path'

const tools = process.env.MACIE_CHATOPS_TOOLS
const require = createRequire(path.join(tools, 'node', 'package.json'))
const { runSimulation } = require('@cloud-copilot/iam-simulate')

let input = ''
for await (const chunk of process.stdin) input += chunk
const cases = JSON.parse(input)
const out = []
for (const c of cases) {
  const simulation = {
    identityPolicies: (c.identity || []).map((policy, i) => ({ name: `identity-${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: c.resourcePolicy || undefined,
    request: {
      principal: c.principal,
      action: c.action,
      resource: { resource: c.resource, accountId: c.resourceAccount },
      contextVariables: c.context || {}
    }
  }
  try {
    const r = await runSimulation(simulation, {})
    if (r.resultType === 'error') {
      out.push({ id: c.id, error: JSON.stringify(r.errors) })
    } else {
      out.push({ id: c.id, result: r.overallResult })
    }
  } catch (e) {
    out.push({ id: c.id, error: String(e && e.stack || e) })
  }
}
process.stdout.write(JSON.stringify(out))
