import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { Service } from 'kubernetes-models/v1/Service';
import ts from 'typescript';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { validateGatewayConfigFile } from '../src/config/gateway-options.schema.js';
import { resolveGatewayOptions } from '../src/config/resolve-options.js';
import { parseWorkerCount } from '../src/server/environment.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const K8S = join(ROOT, 'deploy', 'k8s');
const CLI = join(ROOT, 'dist', 'cli.js');
const MAIN = join(ROOT, 'dist', 'main.js');

/** Peak RSS of one gateway process on Node 24, the image's line (docs/performance.md, "Node lines"). */
const MEASURED_PEAK_RSS_MIB = 142;

/** The model of each kind deploy/k8s holds, by `apiVersion/kind`: also the path of its type in kubernetes-models. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

// Each manifest is read as the YAML it is; the types below say only what the checks read.
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: any;
}

const manifests: { file: string; object: K8sObject }[] = readdirSync(K8S)
  .filter((name) => name.endsWith('.yaml'))
  .sort()
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((document) => {
      if (document.errors.length) throw new Error(`deploy/k8s/${file}: ${document.errors[0].message}`);
      return { file, object: document.toJS() as K8sObject };
    }),
  );
const objectsOf = (kind: string) => manifests.map(({ object }) => object).filter((object) => object.kind === kind);
const only = (kind: string) => {
  const [object, ...others] = objectsOf(kind);
  if (!object || others.length) throw new Error(`expected one ${kind} in deploy/k8s, found ${others.length + (object ? 1 : 0)}`);
  return object;
};

const deployment = only('Deployment');
const pod = deployment.spec.template.spec;
const container: IContainer = pod.containers.find((candidate: IContainer) => candidate.name === 'gateway');
const configMap = only('ConfigMap');
const env = (name: string): string | undefined => container.env?.find((variable) => variable.name === name)?.value;
const gatewayService = objectsOf('Service').find((service) => service.spec.clusterIP !== 'None')!;

/** The config file the pod reads: GATEWAY_CONFIG's name in the ConfigMap. */
const configPath = env('GATEWAY_CONFIG')!;
const configText: string = configMap.data[basename(configPath)];
/** That config as the gateway reads it, every default filled in (read in each test, so that an invalid one fails those alone). */
const gatewayConfig = () => resolveGatewayOptions(validateGatewayConfigFile(parseYaml(configText), 'deploy/k8s/configmap.yaml'));

/** A container port by number or by name, as a probe or a Service's targetPort gives it. */
function containerPort(port: number | string): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find((candidate) => candidate.name === port)?.containerPort;
}

/** Bytes in a Kubernetes quantity such as `320Mi` or `1G`. */
function bytesIn(quantity: string): number {
  const [, number, unit] = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity) ?? [];
  if (number === undefined) throw new Error(`not a memory quantity: ${quantity}`);
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };
  return Number(number) * (unit ? units[unit] : 1);
}

/** Seconds of the preStop pause: Kubernetes' own sleep, or `sleep` run in the container. */
function preStopPauseSeconds(): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return Number(preStop.sleep.seconds);
  const [command, seconds, ...rest] = preStop?.exec?.command ?? [];
  if (/(^|\/)sleep$/.test(command ?? '') && rest.length === 0) return Number(seconds);
  throw new Error(`expected a preStop pause, got ${JSON.stringify(preStop)}`);
}

const labelsMatch = (selector: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => deployment.spec.template.metadata.labels?.[key] === value);

describe('deploy/k8s', () => {
  it('holds the gateway objects, each valid against the Kubernetes schemas (kubernetes-models)', () => {
    expect(manifests.map(({ object }) => `${object.kind}/${object.metadata.name}`).sort()).toEqual([
      'ConfigMap/nest-gateway',
      'Deployment/nest-gateway',
      'HorizontalPodAutoscaler/nest-gateway',
      'PodDisruptionBudget/nest-gateway',
      'Service/nest-gateway',
      'Service/users',
    ]);
    const invalid = manifests.flatMap(({ file, object }) => {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      if (!Model) return [`${file}: ${object.apiVersion} ${object.kind} is not a kind this test knows`];
      try {
        new Model(object as never).validate();
        return [];
      } catch (error) {
        return [`${file} ${object.kind}/${object.metadata.name}: ${(error as Error).message}`];
      }
    });
    expect(invalid).toEqual([]);
  });

  // The schemas allow unknown fields (as the API server does without strict field validation): a
  // misspelt `readinesProbe` would pass them and leave the pod without the probe. TypeScript's
  // excess property check over the models' types catches it.
  it('names no field that the Kubernetes types do not have', async () => {
    await mkdir(join(ROOT, 'node_modules', '.cache'), { recursive: true });
    const dir = await mkdtemp(join(ROOT, 'node_modules', '.cache', 'k8s-manifests-'));
    try {
      const files = await Promise.all(
        manifests.map(async ({ file, object }, index) => {
          const name = join(dir, `${index}-${file}.ts`);
          await writeFile(name, `import type { I${object.kind} } from 'kubernetes-models/${object.apiVersion}/${object.kind}';\nexport const manifest: I${object.kind} = ${JSON.stringify(object, null, 2)};\n`);
          return name;
        }),
      );
      const program = ts.createProgram(files, {
        strict: true,
        noEmit: true,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2023,
        skipLibCheck: true,
        types: [],
      });
      const errors = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
        const line = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1;
        const where = diagnostic.file ? `${basename(diagnostic.file.fileName).replace(/^\d+-/, '').replace(/\.ts$/, '')}, ${diagnostic.file.text.split('\n')[line]?.trim()}` : '';
        return `${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
      });
      expect(errors).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('probes the paths and the port the gateway serves, behind the Service', () => {
    const { health } = gatewayConfig();
    if (!health) throw new Error('the ConfigMap turns the health endpoints off');
    const probes: [string, IProbe | undefined, string | false][] = [
      ['readinessProbe', container.readinessProbe, health.readiness],
      ['livenessProbe', container.livenessProbe, health.liveness],
      ['startupProbe', container.startupProbe, health.liveness],
    ];
    const port = Number(env('PORT'));
    expect(port).toBeGreaterThan(0);
    for (const [name, probe, path] of probes) {
      expect({ [name]: probe?.httpGet?.path }).toEqual({ [name]: path });
      expect({ [name]: containerPort(probe!.httpGet!.port) }).toEqual({ [name]: port });
    }
    expect(containerPort(gatewayService.spec.ports[0].targetPort)).toBe(port);
  });

  it('gives a pod time for its preStop pause, server.drainDelay and server.shutdownGracePeriod', () => {
    const { drainDelay, shutdownGracePeriod } = gatewayConfig().server;
    const needed = preStopPauseSeconds() * 1000 + drainDelay + shutdownGracePeriod;
    expect(preStopPauseSeconds()).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(needed);
  });

  it('mounts the ConfigMap as a directory where GATEWAY_CONFIG points, and reloads it with supervised workers', () => {
    expect(configText).toEqual(expect.any(String));
    const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === dirname(configPath));
    expect(mount).toBeDefined();
    // A subPath mount never receives an update of the ConfigMap.
    expect(mount!.subPath ?? mount!.subPathExpr).toBeUndefined();
    const volume = pod.volumes.find((candidate: { name: string }) => candidate.name === mount!.name);
    expect(volume?.configMap?.name).toBe(configMap.metadata.name);
    expect(gatewayConfig().watch).toBe(true);
    // `watch` acts only in the supervising primary.
    expect(parseWorkerCount(env('GATEWAY_WORKERS') ?? 'unset')).toBeGreaterThanOrEqual(1);
  });

  it('runs as non-root on a read-only root filesystem, /tmp an emptyDir, no privilege escalation or capability, seccomp RuntimeDefault', () => {
    const security = { ...pod.securityContext, ...container.securityContext };
    expect(security.runAsNonRoot).toBe(true);
    // The image's USER is a name (node), which the kubelet cannot check for runAsNonRoot.
    expect(security.runAsUser).toBeGreaterThan(0);
    expect(security.readOnlyRootFilesystem).toBe(true);
    expect(security.allowPrivilegeEscalation).toBe(false);
    expect(security.capabilities?.drop).toEqual(['ALL']);
    expect(security.capabilities?.add).toBeUndefined();
    expect(security.privileged).not.toBe(true);
    expect(security.seccompProfile?.type).toBe('RuntimeDefault');
    const tmp = container.volumeMounts?.find((mount) => mount.mountPath === '/tmp');
    expect(pod.volumes.find((volume: { name: string }) => volume.name === tmp?.name)?.emptyDir).toBeDefined();
  });

  it('requests memory for a primary and a worker at their measured peak, and limits it above a reload (three processes)', () => {
    const { requests, limits } = container.resources ?? {};
    expect(bytesIn(String(requests?.memory))).toBeGreaterThanOrEqual(2 * MEASURED_PEAK_RSS_MIB * 2 ** 20);
    expect(bytesIn(String(limits?.memory))).toBeGreaterThanOrEqual(3 * MEASURED_PEAK_RSS_MIB * 2 ** 20);
    // The HorizontalPodAutoscaler measures CPU against the request.
    expect(requests?.cpu).toBeDefined();
  });

  it('has the Service, PodDisruptionBudget and HorizontalPodAutoscaler select the Deployment and its pods', () => {
    expect(labelsMatch(deployment.spec.selector.matchLabels)).toBe(true);
    expect(labelsMatch(gatewayService.spec.selector)).toBe(true);
    const budget = only('PodDisruptionBudget');
    expect(labelsMatch(budget.spec.selector.matchLabels)).toBe(true);
    const autoscaler = only('HorizontalPodAutoscaler');
    expect(autoscaler.apiVersion).toBe('autoscaling/v2');
    expect(autoscaler.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    // The autoscaler owns the count: a `replicas` here would be reset by every `kubectl apply`.
    expect(deployment.spec.replicas).toBeUndefined();
    // At its fewest replicas, a drain may still take one pod.
    expect(autoscaler.spec.minReplicas).toBeGreaterThan(budget.spec.minAvailable ?? 0);
    expect(autoscaler.spec.minReplicas).toBeGreaterThanOrEqual(2);
  });

  it("discovers a route's targets through the headless Service, by its fully qualified name and its pods' port", () => {
    const headless = objectsOf('Service').filter((service) => service.spec.clusterIP === 'None');
    expect(headless).toHaveLength(1);
    const [service] = headless;
    const discovered = gatewayConfig().routes.filter((route) => route.discovery);
    expect(discovered.length).toBeGreaterThanOrEqual(1);
    for (const route of discovered) {
      for (const target of route.targets) {
        const url = new URL(target.url);
        // Discovery asks DNS itself, without resolv.conf's search domains (nodejs/node#17850).
        expect(url.hostname).toBe(`${service.metadata.name}.${service.metadata.namespace ?? 'default'}.svc.cluster.local`);
        // A headless name resolves to the pods: the gateway connects to their port.
        expect(Number(url.port)).toBe(service.spec.ports[0].targetPort ?? service.spec.ports[0].port);
      }
    }
  });

  it('runs the image docker-compose.yml builds', () => {
    const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { image?: string }> };
    expect(container.image).toBe(compose.services.gateway.image);
  });

  it("holds a config that `nest-gateway validate` accepts", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'k8s-config-'));
    try {
      const file = join(dir, basename(configPath));
      await writeFile(file, configText);
      const { REDIS_URL: _, ...environment } = process.env;
      const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'validate', file], { env: environment });
      expect(stdout).toMatch(/: valid, \d+ route\(s\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Writes a ConfigMap volume's file as the kubelet does: a new directory, then `..data` swapped to it in one rename. */
async function writeLikeKubelet(dir: string, version: number, text: string): Promise<void> {
  const data = `..2025_01_01_00_00_0${version}.1`;
  await mkdir(join(dir, data));
  await writeFile(join(dir, data, 'gateway.yaml'), text);
  await symlink(data, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  if (version === 1) await symlink('..data/gateway.yaml', join(dir, 'gateway.yaml'));
  else await rm(join(dir, `..2025_01_01_00_00_0${version - 1}.1`), { recursive: true });
}

// The bug: `watch: true` reacts to events that name the config file, but the kubelet updates a
// ConfigMap volume by swapping its `..data` symlink; `gateway.yaml` itself, a symlink through
// `..data`, never changes, so an edited ConfigMap reloads nothing until SIGHUP or a restart.
describe("the ConfigMap's config in a volume the kubelet updates, under supervised workers", () => {
  let dir: string;
  let child: ChildProcess;
  let output = '';
  // The ConfigMap's config as it is, its targets on this machine (an address: no DNS here).
  const config = configText.replace(/http:\/\/[\w.-]+\.svc\.cluster\.local:/g, 'http://127.0.0.1:');
  const seen = async (pattern: RegExp, from: number, waitMs: number) => {
    for (const end = Date.now() + waitMs; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 50))) {
      if (pattern.test(output.slice(from))) return true;
    }
    return false;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'k8s-volume-'));
    await writeLikeKubelet(dir, 1, config);
    child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, GATEWAY_CONFIG: join(dir, 'gateway.yaml'), PORT: '0', HOST: '127.0.0.1', GATEWAY_WORKERS: env('GATEWAY_WORKERS'), REDIS_URL: '' },
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    if (!(await seen(/gateway workers listening on port/, 0, 20_000))) throw new Error(`the gateway did not start:\n${output}`);
  });
  afterAll(async () => {
    if (child?.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const stuck = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(stuck);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('reloads when the kubelet updates the ConfigMap (watch: true)', async () => {
    const from = output.length;
    await writeLikeKubelet(dir, 2, config.replace('prefix: /users', 'prefix: /people'));
    expect(await seen(/Reloading /, from, 3000)).toBe(true);
  });

  it("reloads on SIGHUP, as `kubectl exec <pod> -- sh -c 'kill -HUP 1'` sends it", async () => {
    const from = output.length;
    child.kill('SIGHUP');
    expect(await seen(/Reload done/, from, 20_000)).toBe(true);
  });
});
