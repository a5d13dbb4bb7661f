# The sandbox image for machines that can pull a base image: Node 20 (slim), bash and common
# tools, the agent bundle, its exec helper and node-pty, the agent as entry point, an unprivileged user.
# Build from the repository root after `npm run build`:
#   docker build -f docker/sandbox.Dockerfile -t infra-lab/sandbox:latest .
# and run the gateway with INFRA_LAB_DOCKER_IMAGE=infra-lab/sandbox:latest --driver docker.
# Where no base image can be pulled (this lab's machines), `npm run image:local` assembles the
# same layout from the host's own files instead (docker/build-local-image.mjs).
FROM node:20-bookworm-slim

# uid 100000, as the local driver: a host uid that owns nothing but sockets and workspaces.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash coreutils findutils grep sed procps less tar gzip diffutils ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd -g 100000 user && useradd -u 100000 -g 100000 -d /home/user -s /bin/bash -M user \
 && mkdir -p /slot /run/agent /opt/infra-lab && ln -s /slot/home /home/user \
 && ln -sf /usr/local/bin/node /usr/bin/node

# node-pty is built for glibc (Debian 12 here): the image's glibc must be as new.
COPY packages/agent/dist/agent.mjs /opt/infra-lab/agent.mjs
# The exec helper (packages/agent/native/lab-exec.c), built statically by `npm run build`.
COPY --chmod=755 packages/agent/dist/lab-exec /opt/infra-lab/lab-exec
COPY node_modules/node-pty/package.json /opt/infra-lab/node_modules/node-pty/package.json
COPY node_modules/node-pty/lib /opt/infra-lab/node_modules/node-pty/lib
COPY node_modules/node-pty/build/Release/pty.node /opt/infra-lab/node_modules/node-pty/build/Release/pty.node

USER 100000:100000
ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8
# The driver passes --socket /run/agent/agent.sock --sandbox-id <id> and its own hardening flags.
ENTRYPOINT ["/usr/bin/node", "/opt/infra-lab/agent.mjs"]
