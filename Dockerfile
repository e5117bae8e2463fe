# oomwatch: exact container OOM-kill counts and container memory for Prometheus, one per host.
#
#   docker build -t oomwatch .
#
# BUILDER_IMAGE and BASE_IMAGE are any Debian bookworm image with Node.js 24 (or 22.12+) installed under
# /usr/local, as the official node images are. Nothing is compiled: better-sqlite3 13 ships its addon built
# for Node-API, which loads on every Node.js release from 22 on. The test suite builds both bases locally
# (test/helpers/image.ts) and this file unchanged.
#
# Run it next to the containers it watches (least privilege that works; see below):
#
#   docker run -d --name oomwatch --restart unless-stopped \
#     --cap-drop ALL --cap-add SYSLOG --security-opt no-new-privileges \
#     --read-only --tmpfs /tmp \
#     -v /sys/fs/cgroup:/host/sys/fs/cgroup:ro \
#     -v /proc:/host/proc:ro \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     --device /dev/kmsg:/dev/kmsg:r \
#     -v oomwatch-state:/var/lib/oomwatch \
#     -p 9797:9797 \
#     oomwatch
#
# The mounts, one per line as "kind host-path container-path mode purpose"; deploy/compose and the
# Kubernetes DaemonSet use the same paths and test/deploy checks that they do:
#
# mount:  bind   /sys/fs/cgroup        /host/sys/fs/cgroup   ro  host cgroup tree (v1, v2 or hybrid), read at every poll
# mount:  bind   /proc                 /host/proc            ro  /proc/vmstat oom_kill (every kill on the host) and the boot id
# mount:  bind   /var/run/docker.sock  /var/run/docker.sock  ro  Docker events and container names (read-only API calls only)
# mount:  device /dev/kmsg             /dev/kmsg             r   kernel log: each OOM kill with its victim, even for docker run --rm
# mount:  volume oomwatch-state        /var/lib/oomwatch     rw  --state-dir: counters, cursors and the OOM event log across restarts
#
# Privileges, as tried on Docker Engine 20.10 with a cgroup v1 host (test/real/deploy-image.test.ts):
# - Nothing beyond the mounts above is needed for the cgroup tree, /proc and the Docker socket: oomwatch
#   runs as root (uid 0 owns those files and the socket), with every capability dropped.
# - /dev/kmsg needs the device passed in (--device adds it to the container's device cgroup; a plain
#   bind mount of /dev/kmsg is refused with EPERM) and CAP_SYSLOG when the host sets
#   kernel.dmesg_restrict=1 (Debian and Ubuntu do). Without it oomwatch still counts kills from the
#   cgroup counters and Docker events, but loses the victim and kills of containers removed at once.
# - --privileged is the short recipe, for hosts where fine-grained flags are not wanted:
#     docker run -d --name oomwatch --privileged -v /sys/fs/cgroup:/host/sys/fs/cgroup:ro -v /proc:/host/proc:ro \
#       -v /var/run/docker.sock:/var/run/docker.sock:ro -v oomwatch-state:/var/lib/oomwatch -p 9797:9797 oomwatch
#   (a privileged container sees the host's /dev, /dev/kmsg included, and has every capability). The
#   test suite cannot start privileged containers on its machines (their own capability bounding set
#   lacks CAP_SYS_RESOURCE, so runc refuses), so this one recipe is not exercised there.
# - Docker before 25 makes only the top of a ":ro" bind mount read-only: the cgroup v1 controller
#   mounts under /host/sys/fs/cgroup stay writable, and uid 0 can write their files even with every
#   capability dropped (tried: a memory.limit_in_bytes of another cgroup). oomwatch never writes there;
#   to have the kernel enforce it, use Docker 25 or later with
#   --mount type=bind,src=/sys/fs/cgroup,dst=/host/sys/fs/cgroup,readonly,bind-recursive=readonly.
#
# oomwatch is PID 1 (no npm, no shell in between) and handles SIGTERM itself: it stops its sources,
# writes its state and exits 0 within 10 s, well inside docker stop's default grace period. It starts no
# child processes, so it needs no init to reap them.

# Node.js 24 LTS, the release in .node-version (the suite tests that release and checks these defaults name it).
ARG BUILDER_IMAGE=node:24.22.3-bookworm
ARG BASE_IMAGE=node:24.22.3-bookworm-slim

FROM ${BUILDER_IMAGE} AS build
ENV npm_config_update_notifier=false
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node -e "require('better-sqlite3')(':memory:').close()"

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="oomwatch" \
      org.opencontainers.image.description="Container OOM-kill and memory exporter for Prometheus" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY deploy/docker/healthcheck.js ./healthcheck.js
VOLUME /var/lib/oomwatch
EXPOSE 9797
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["node", "/app/healthcheck.js"]
# The node flags and environment of npm start (README, "Benchmarks"): a 2 MB young generation, one V8
# background thread and V8 tuned for size (about 35 MB less resident memory with 1000 containers at no
# measurable CPU cost); Maglev as the top JIT tier (TurboFan's 6 MB of compiler code never paged in); V8's
# compiling and collecting on the main thread (no background thread's malloc arena, 3 MB less); a fixed
# malloc mmap threshold, so that the freed buffer of each /metrics response goes back to the kernel instead
# of staying in glibc's heap.
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072
ENTRYPOINT ["node", "--max-semi-space-size=2", "--v8-pool-size=1", "--optimize-for-size", "--max-opt=2", "--single-threaded", "/app/dist/cli.js"]
CMD ["serve", "--listen", "0.0.0.0:9797", "--cgroup-root", "/host/sys/fs/cgroup", "--proc-root", "/host/proc", "--docker-socket", "/var/run/docker.sock", "--kmsg", "/dev/kmsg", "--state-dir", "/var/lib/oomwatch"]
