# Docker Bake with the pyx token as a BuildKit secret (see docker/Dockerfile.env-example and
# docker/Dockerfile.example).
#
#   PYX_AUTH_TOKEN="$(pyx-auth token --min-ttl 30m)" && export PYX_AUTH_TOKEN   # stops on failure
#   docker buildx bake -f docker/docker-bake.hcl                # stage "token": uv <= 0.12.6
#
#   netrc="$(mktemp -d)/pyx.netrc"; trap 'rm -rf "$(dirname "$netrc")"' EXIT
#   pyx-auth token --min-ttl 30m --format netrc --output "$netrc"
#   PYX_NETRC_FILE="$netrc" docker buildx bake -f docker/docker-bake.hcl netrc   # any uv, pip
#
# An env secret whose variable is unset is silently empty; the Dockerfile checks for that.
# Override a declared secret's source without editing this file:
#   docker buildx bake -f docker/docker-bake.hcl --set default.secret.pyx_auth_token=src=./pyx-token

variable "PYX_NETRC_FILE" {
  default = "pyx.netrc"
}

target "_pyx" {
  context    = "."
  dockerfile = "docker/Dockerfile.example"
}

target "default" {
  inherits   = ["_pyx"]
  dockerfile = "docker/Dockerfile.env-example"  # env= on the secret mount: frontend >= 1.10
  target     = "token"
  secret   = ["id=pyx_auth_token,env=PYX_AUTH_TOKEN"]
}

target "netrc" {
  inherits = ["_pyx"]
  target   = "netrc"
  secret   = ["id=pyx_netrc,src=${PYX_NETRC_FILE}"]
}
