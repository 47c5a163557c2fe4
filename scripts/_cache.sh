# Sourced by the build scripts (after they cd to the repository): CACHE, the folder
# leapfrog caches downloads and builds in. The same rule as
# leapfrog.shared.cache.cache_dir(), which the test harness reads.
if [ -n "${LEAPFROG_CACHE:-}" ]; then CACHE=$LEAPFROG_CACHE
elif [ "$(id -u)" -eq 0 ]; then CACHE=/var/cache/leapfrog
else CACHE=$HOME/.cache/leapfrog; fi
