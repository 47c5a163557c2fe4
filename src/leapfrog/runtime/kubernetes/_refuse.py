"""Stack-file values that have no meaning on Kubernetes, refused with the field to fix
rather than silently dropped (docs/kubernetes.md lists them)."""

from __future__ import annotations

from leapfrog.spec import Problem, Stack

__all__ = ["refused"]


def refused(stack: Stack) -> list[Problem]:
    problems: list[Problem] = []

    def problem(field: str, message: str, hint: str) -> None:
        line = stack.line_of(field)
        problems.append(Problem(str(stack.path), line, None, field, message, hint))

    for name, service in stack.spec.services.items():
        at = f"services.{name}"
        if not service.image:
            problem(
                f"{at}.image",
                "a service needs `image:` on Kubernetes (the container image to run)",
                f"add `image: registry.example.com/{name}` to services.{name}",
            )
        if service.user is not None:
            problem(
                f"{at}.user",
                "`user` names a Unix user of this machine; pods run as a numeric non-root "
                "user chosen by the render",
                f"remove `user:` from services.{name}",
            )
        if service.working_dir is not None:
            problem(
                f"{at}.working_dir",
                "`working_dir` is a folder of this machine; the image's WORKDIR is used",
                f"remove `working_dir:` and set WORKDIR in the image of {name}",
            )
        if service.stop_signal != "SIGTERM":
            problem(
                f"{at}.stop_signal",
                f"Kubernetes stops containers with SIGTERM, not {service.stop_signal}",
                "remove `stop_signal:`, or set STOPSIGNAL in the image",
            )
        if service.restart.policy == "no":
            problem(
                f"{at}.restart.policy",
                "a Deployment always restarts its pods: `no` cannot be honoured",
                "remove the restart policy (or use a Job outside leapfrog for one-off runs)",
            )
    if "backups" not in stack.spec.components:
        for name, options in stack.spec.components.items():
            if options.get("backups") is not None:
                problem(
                    f"components.{name}.backups",
                    "on Kubernetes a store's `backups:` is a BackupSchedule, run by the "
                    "backup operator, which is the `backups` component; the stack has none",
                    "add `backups: {}` under components (or remove this `backups:`)",
                )
    problems.sort(key=lambda p: p.line or 0)
    return problems
