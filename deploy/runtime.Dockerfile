# The project runtime image (containers/image) built in one `docker build`,
# for docker compose on a server: the same image scripts/build-image makes
# with STUDIO_BASE_IMAGE set to an official Node.js image. The script runs
# `npm ci` for each template in a scratch copy of the build context; here a
# first stage does it. The final stage repeats containers/image/Dockerfile
# after its FROM line, with the templates taken from that stage
# (deploy/compose_test.go checks that the two agree).
#
# Build context: containers/image.
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BASE_IMAGE} AS templates
COPY templates/ /opt/studio/templates/
# Install scripts stay off, as in scripts/build-image.
RUN --mount=type=cache,target=/root/.npm \
    for dir in /opt/studio/templates/*/; do \
      (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || exit 1; \
      mkdir -p "$dir/node_modules"; \
    done

FROM ${BASE_IMAGE}
COPY bin/ /opt/studio/bin/
COPY --from=templates /opt/studio/templates/ /opt/studio/templates/

# Pre-bundle each Vite template's dependencies exactly as a project's dev
# server would, so a new project starts with a warm dependency cache.
RUN ["node", "/opt/studio/bin/prebundle.mjs"]

ENV HOME=/home/studio
USER 1000:1000
WORKDIR /app
EXPOSE 5173
CMD ["node", "/opt/studio/bin/dev.mjs"]
