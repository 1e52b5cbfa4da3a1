/**
 * cutaway: Docker's everyday commands as scripts that compose cutaway's tools. One file per verb, laid out
 * by Docker's objects (docker/cli's cli/command/…); this file is the table of them (dispatch.ts reads it).
 */
import { build } from './build/build.ts';
import * as builder from './builder/index.ts';
import { attach } from './containers/attach.ts';
import { commit } from './containers/commit.ts';
import { cp } from './containers/cp.ts';
import { create } from './containers/create.ts';
import { diff } from './containers/diff.ts';
import { exportContainer } from './containers/export.ts';
import { exec } from './containers/exec.ts';
import { healthCheck } from './containers/health.ts';
import { inspect } from './containers/inspect.ts';
import { kill } from './containers/kill.ts';
import { logs } from './containers/logs.ts';
import { pause, unpause } from './containers/pause.ts';
import { port } from './containers/port.ts';
import { ps } from './containers/ps.ts';
import { rename } from './containers/rename.ts';
import { restart } from './containers/restart.ts';
import { rm } from './containers/rm.ts';
import { run } from './containers/run.ts';
import { start } from './containers/start.ts';
import { stats } from './containers/stats.ts';
import { stop } from './containers/stop.ts';
import { teardown } from './containers/teardown.ts';
import { top } from './containers/top.ts';
import { update } from './containers/update.ts';
import { wait } from './containers/wait.ts';
import { dispatch, type Verb } from './dispatch.ts';
import { history } from './images/history.ts';
import { images } from './images/images.ts';
import { importImage } from './images/import.ts';
import { inspect as imageInspect } from './images/inspect.ts';
import { load } from './images/load.ts';
import { pull } from './images/pull.ts';
import { push } from './images/push.ts';
import { rmi } from './images/rmi.ts';
import { save } from './images/save.ts';
import { tag } from './images/tag.ts';
import * as network from './networks/index.ts';
import * as system from './system/index.ts';
import { login, logout } from './system/login.ts';
import * as volume from './volumes/index.ts';

/**
 * Every command once: [command, its top-level name ('' if none), 'GROUP NAME ALIAS…' in its management group].
 * The names and aliases are Docker's (`docker ps` is `docker container ls`, `ps`, `list`). A verb is one line.
 */
const VERBS: Verb[] = [
  [run, 'run', 'container run'],
  [create, 'create', 'container create'],
  [exec, 'exec', 'container exec'],
  [attach, 'attach', 'container attach'],
  [ps, 'ps', 'container ls ps list'],
  [logs, 'logs', 'container logs'],
  [inspect, 'inspect', 'container inspect'],
  [wait, 'wait', 'container wait'],
  [port, 'port', 'container port'],
  [kill, 'kill', 'container kill'],
  [stop, 'stop', 'container stop'],
  [start, 'start', 'container start'],
  [restart, 'restart', 'container restart'],
  [rm, 'rm', 'container rm remove'],
  [top, 'top', 'container top'],
  [stats, 'stats', 'container stats'],
  [rename, 'rename', 'container rename'],
  [pause, 'pause', 'container pause'],
  [unpause, 'unpause', 'container unpause'],
  [update, 'update', 'container update'],
  [commit, 'commit', 'container commit'],
  [diff, 'diff', 'container diff'],
  [exportContainer, 'export', 'container export'],
  [cp, 'cp', 'container cp'],

  [build, 'build', 'image build'],
  [images, 'images', 'image ls list'],
  [pull, 'pull', 'image pull'],
  [push, 'push', 'image push'],
  [tag, 'tag', 'image tag'],
  [rmi, 'rmi', 'image rm rmi remove'],
  [history, 'history', 'image history'],
  [save, 'save', 'image save'],
  [load, 'load', 'image load'],
  [importImage, 'import', 'image import'],
  [imageInspect, '', 'image inspect'],

  [volume.create, '', 'volume create'],
  [volume.ls, '', 'volume ls list'],
  [volume.inspect, '', 'volume inspect'],
  [volume.rm, '', 'volume rm remove'],
  [volume.prune, '', 'volume prune'],

  [network.create, '', 'network create'],
  [network.ls, '', 'network ls list'],
  [network.inspect, '', 'network inspect'],
  [network.rm, '', 'network rm remove'],
  [network.connect, '', 'network connect'],
  [network.disconnect, '', 'network disconnect'],
  [network.prune, '', 'network prune'],

  [system.info, 'info', 'system info'],
  [system.df, '', 'system df'],
  [system.events, 'events', 'system events'],
  [system.prune, '', 'system prune'],
  [system.version, 'version'],
  [login, 'login'],
  [logout, 'logout'],
  [builder.prune, '', 'builder prune'],

  // podman's: a shell (or CMD) in the rootless user namespace, to look at or remove the store's files.
  [system.unshare, 'unshare'],
  // What cutaway-shim becomes when a detached container exits; not a command of Docker's, not in help.
  [teardown, '__teardown'],
  // What cutaway-shim runs every interval of a detached container's HEALTHCHECK: one check.
  [healthCheck, '__health'],
];

dispatch(
  {
    verbs: VERBS,
    groups: { builder: 'Manage the build cache', container: 'Manage containers', image: 'Manage images', network: 'Manage networks', system: 'Manage cutaway', volume: 'Manage volumes' },
    // Docker's Common Commands, in its order (login, logout, search, events: where cutaway has them).
    common: ['run', 'exec', 'ps', 'build', 'pull', 'push', 'images', 'login', 'logout', 'search', 'version', 'info'],
    description: "Docker's commands, each a script over cutaway's tools",
  },
  process.argv.slice(2),
);
