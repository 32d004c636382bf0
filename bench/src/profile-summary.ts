/**
 * Summarises V8 CPU profiles (`node --cpu-prof` output) as the functions and the packages
 * with the most self time, which is usually enough to see where a request's time goes.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
}

const TOP_COUNT = 25;

export async function summariseProfiles(profileDir: string, repoDir: string): Promise<string> {
  let files: string[];
  try {
    files = (await readdir(profileDir)).filter((file) => file.endsWith('.cpuprofile'));
  } catch {
    return `no CPU profile in ${profileDir}: the worker did not exit normally, so V8 wrote none`;
  }

  const sections: string[] = [];
  for (const file of files) {
    const profile = JSON.parse(await readFile(join(profileDir, file), 'utf8')) as CpuProfile;
    sections.push(`== ${join(profileDir, file)}\n${summarise(profile, repoDir)}`);
  }
  return sections.length === 0 ? `no CPU profile in ${profileDir}` : sections.join('\n');
}

function summarise(profile: CpuProfile, repoDir: string): string {
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;

  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) {
      continue;
    }
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const location = shortenUrl(url, repoDir);
    const functionKey = `${functionName || '(anonymous)'} ${location}${url === '' ? '' : `:${lineNumber + 1}`}`;
    byFunction.set(functionKey, (byFunction.get(functionKey) ?? 0) + hits);
    byPackage.set(packageOf(location, functionName), (byPackage.get(packageOf(location, functionName)) ?? 0) + hits);
  }

  const seconds = (profile.endTime - profile.startTime) / 1e6;
  return [
    `${total} samples over ${seconds.toFixed(1)} s`,
    'self time by package or area:',
    ...topEntries(byPackage, total, TOP_COUNT),
    'self time by function:',
    ...topEntries(byFunction, total, TOP_COUNT),
  ].join('\n');
}

function topEntries(counts: Map<string, number>, total: number, count: number): string[] {
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, hits]) => `  ${((hits / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
}

function shortenUrl(url: string, repoDir: string): string {
  return url.replace(/^file:\/\//, '').replace(`${repoDir}/`, '');
}

/** Groups a location by npm package, workspace package, Node internals or V8 (GC, idle, program). */
function packageOf(location: string, functionName: string): string {
  const nodeModules = location.lastIndexOf('node_modules/');
  if (nodeModules >= 0) {
    const parts = location.slice(nodeModules + 'node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? location);
  }
  if (location.startsWith('node:')) {
    return 'node internals';
  }
  if (location === '') {
    return `(${functionName || 'native'})`;
  }
  const workspace = location.match(/^([\w-]+(?:\/[\w-]+)?)\/dist\//);
  return workspace?.[1] ?? location;
}
