"""`pld prompt ...`: publish, inspect and move prompt versions in the Redis registry.

pld prompt publish FILE [--canary PCT | --shadow] [--why TEXT]   validate, store, point at it
pld prompt seal FILE [--version NAME] [--out PATH]   a hand-edited file made a valid version again
pld prompt list | show VERSION | diff A B | history
pld prompt promote [--why TEXT]    the canary becomes production
pld prompt rollback [--why TEXT]   production goes back to its previous version
"""

import argparse
import difflib
import getpass
import json
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from schemas import Instruction, PromptVersion
from schemas.prompts import SHA256_MISMATCH
from stream.errors import PromptError
from stream.prompts import Pointer, PromptRegistry, default_prompt, load_prompt_file, seal_prompt_file
from stream.prompts.gate import GateVerdict, check_promotion
from stream.settings import WorkerSettings

REWORDED_SIMILARITY = 0.5


EXIT_REFUSED = 4  # the promotion gate refused; nothing moved
EXIT_INVALID = 2  # the prompt file is not a valid version; nothing was stored or written
SEAL_HINT = "after a hand edit, run `pld prompt seal FILE` to recompute its sha256"


def add_prompt_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `pld prompt` and its subcommands."""
    parser = commands.add_parser("prompt", help="publish and move prompt versions in the Redis registry")
    actions = parser.add_subparsers(dest="prompt_command", required=True)
    publish = actions.add_parser("publish", help="validate a prompt file, store it and point production at it")
    publish.add_argument("file", type=Path)
    target = publish.add_mutually_exclusive_group()
    target.add_argument("--canary", type=float, metavar="PCT", help="decide this share of requests with it")
    target.add_argument("--shadow", action="store_true", help="score alongside production, decide nothing")
    seal = actions.add_parser("seal", help="recompute a hand-edited prompt file's sha256 (drops its stale fits)")
    seal.add_argument("file", type=Path)
    seal.add_argument("--version", help="the edited version's name (default: the file's, less its digest)")
    seal.add_argument("--out", type=Path, help="write the sealed version here (default: over FILE)")
    actions.add_parser("list", help="stored versions and where the pointers stand")
    show = actions.add_parser("show", help="one stored version as JSON")
    show.add_argument("version")
    diff = actions.add_parser("diff", help="instructions added, removed and reworded between two versions")
    diff.add_argument("old")
    diff.add_argument("new")
    actions.add_parser("history", help="every pointer move: who, when, from, to, why")
    guard = actions.add_parser("guard", help="watch the canary; clear it by itself when it decides unlike production")
    guard.add_argument("--timeout", type=float, help="give up after this many seconds (default: guard until it ends)")
    impact = actions.add_parser("impact", help="which recent decisions a candidate would change, and which rules")
    impact.add_argument("candidate", help="a prompt file, or a stored version's name")
    impact.add_argument("--against", help="the reference version (default: production)")
    impact.add_argument("--since", type=datetime.fromisoformat, help="ISO time: requests from then on")
    impact.add_argument("--until", type=datetime.fromisoformat, help="ISO time: requests up to then")
    impact.add_argument("--sample", type=int, default=200, help="most requests compared (by request-id hash)")
    impact.add_argument("--tenant", help="only this tenant's requests")
    impact.add_argument("--show-chars", type=int, default=80, help="longest excerpt of a message in the report")
    impact.add_argument("--json", action="store_true", help="print the whole report as JSON")
    impact.add_argument("--out", type=Path, help="also write impact.json and impact.png here")
    actions.add_parser("promote", help="the canary becomes production")
    actions.add_parser("rollback", help="production goes back to its previous version")
    actions.choices["promote"].add_argument(
        "--force", action="store_true", help="promote past the promotion gate (needs --why; the history records it)"
    )
    for action in (publish, actions.choices["promote"], actions.choices["rollback"]):
        action.add_argument("--why", default="", help="recorded in the history")
        action.add_argument("--who", default=_operator(), help="recorded in the history (default: user@host)")


def run_prompt(args: argparse.Namespace) -> int:
    """Run one `pld prompt` subcommand."""
    try:
        return _run(args)
    except PromptError as invalid:
        hint = f" ({SEAL_HINT})" if SHA256_MISMATCH in str(invalid) else ""
        sys.stderr.write(f"pld prompt {args.prompt_command}: {invalid}{hint}\n")
        return EXIT_INVALID


def _run(args: argparse.Namespace) -> int:
    if args.prompt_command == "seal":
        return _seal(args)
    settings = WorkerSettings()
    registry = PromptRegistry.from_settings(settings, publisher=True)
    handlers: dict[str, Callable[[argparse.Namespace, PromptRegistry, WorkerSettings], object]] = {
        "publish": _publish,
        "list": lambda _a, r, _s: _list(r),
        "show": lambda a, r, _s: r.get(a.version).model_dump(mode="json"),
        "diff": lambda a, r, _s: diff_versions(r.get(a.old), r.get(a.new)),
        "history": lambda _a, r, _s: [entry.model_dump(mode="json") for entry in r.history(limit=1000)],
        "promote": _promote,
        "rollback": lambda a, r, _s: r.rollback(who=a.who, why=a.why).model_dump(mode="json"),
    }
    if args.prompt_command == "impact":
        return _impact(args, registry, settings)
    if args.prompt_command == "guard":
        return _guard(args, registry, settings)
    try:
        result = handlers[args.prompt_command](args, registry, settings)
    except PromotionRefusedError as refused:
        refusal = {"refused": str(refused), "compared": refused.verdict.compared, "problems": refused.verdict.problems}
        sys.stderr.write(json.dumps(refusal, indent=2) + "\n")
        return EXIT_REFUSED
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    return 0


def _seal(args: argparse.Namespace) -> int:
    sealed = seal_prompt_file(args.file, args.version)
    out = args.out or args.file
    if sealed.changed or out != args.file:
        out.write_text(sealed.prompt.model_dump_json(indent=2) + "\n", encoding="utf-8")
    report: dict[str, object] = {
        "file": str(out),
        "version": sealed.prompt.version,
        "sha256": sealed.prompt.sha256,
        "changed": sealed.changed,
        "dropped": sealed.dropped,
    }
    if sealed.dropped:
        report["next"] = "refit the calibration for each student: pld eval --prompt FILE (see docs/distillation.md)"
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


def _publish(args: argparse.Namespace, registry: PromptRegistry, settings: WorkerSettings) -> object:
    from stream.student import check_budget  # noqa: PLC0415 - loads the tokenizer: only here

    prompt = load_prompt_file(args.file)  # schema, labels, instruction ids, sha256
    budget = check_budget(settings, prompt)  # fits the student's context
    pointer = Pointer.CANARY if args.canary is not None else Pointer.SHADOW if args.shadow else Pointer.PRODUCTION
    entry = registry.publish(prompt, pointer, who=args.who, why=args.why, share=args.canary)
    return {**entry.model_dump(mode="json"), "prefix_tokens": budget.prefix_tokens, "kv_cells_needed": budget.needed}


def _impact(args: argparse.Namespace, registry: PromptRegistry, settings: WorkerSettings) -> int:
    from pld.impact import ImpactQuery, print_impact, run_impact, write_report  # noqa: PLC0415 - loads the model

    candidate = load_prompt_file(args.candidate) if Path(args.candidate).is_file() else registry.get(args.candidate)
    reference_name = args.against or registry.deployment().production
    reference = registry.get(reference_name) if reference_name else default_prompt()
    query = ImpactQuery(args.since, args.until, args.sample, args.tenant, args.show_chars)
    report = run_impact(settings, candidate, reference, query)
    if args.out is not None:
        write_report(report, args.out, candidate.label_names)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        print_impact(report)
    return 0


def _promote(args: argparse.Namespace, registry: PromptRegistry, settings: WorkerSettings) -> object:
    """The canary becomes production, if the promotion gate lets it (or `--force --why` overrides it)."""
    deployment = registry.deployment()
    if deployment.canary is None or deployment.production is None:
        return registry.promote(who=args.who, why=args.why).model_dump(mode="json")  # the registry says why not
    verdict = check_promotion(
        registry.get(deployment.canary), registry.get(deployment.production), settings.promotion_gate
    )
    why = args.why
    if not verdict.passed:
        if not args.force:
            raise PromotionRefusedError(verdict)
        if not args.why.strip():
            raise PromotionRefusedError(
                verdict, "--force needs --why: the history must say why the gate was overridden"
            )
        why = f"forced past the promotion gate ({'; '.join(verdict.problems)}): {args.why}"
    entry = registry.promote(who=args.who, why=why).model_dump(mode="json")
    return {**entry, "gate": {"compared": verdict.compared, "problems": verdict.problems, "forced": not verdict.passed}}


class PromotionRefusedError(Exception):
    """The promotion gate refused the canary (exit status 4); nothing moved."""

    def __init__(self, verdict: GateVerdict, reason: str = "") -> None:
        super().__init__(reason or "; ".join(verdict.problems))
        self.verdict = verdict


def _guard(args: argparse.Namespace, registry: PromptRegistry, settings: WorkerSettings) -> int:
    from pld.canary_guard import GuardLimits, run_guard  # noqa: PLC0415 - a Kafka client: only here

    limits = GuardLimits(settings.canary_min_decisions, settings.canary_max_label_shift)
    outcome = run_guard(settings, registry, limits, args.timeout)
    report = {
        "canary": outcome.canary,
        "rolled_back": outcome.rolled_back,
        "reason": outcome.reason,
        "canary_labels": dict(outcome.counts.canary),
        "production_labels": dict(outcome.counts.production),
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


def _list(registry: PromptRegistry) -> object:
    deployment = registry.deployment()
    pointers = {
        version: [p.value for p in Pointer if getattr(deployment, p.value) == version]
        for version in deployment.versions()
    }
    return {
        "deployment": deployment.model_dump(),
        "versions": [
            {"version": version, "stored_at": stored.isoformat(), "pointers": pointers.get(version, [])}
            for version, stored in registry.versions()
        ],
    }


def diff_versions(old: PromptVersion, new: PromptVersion) -> dict[str, object]:
    """What changed between two versions: instructions by id (a changed text gets a new id, so a removed and
    an added rule for the same label with similar wording count as reworded), and every other field."""
    old_by_id = {ins.id: ins for ins in old.instructions}
    new_by_id = {ins.id: ins for ins in new.instructions}
    removed = [old_by_id[i] for i in old_by_id if i not in new_by_id]
    added = [new_by_id[i] for i in new_by_id if i not in old_by_id]
    reworded = []
    for before in list(removed):
        match = _closest(before, [after for after in added if after.target_label == before.target_label])
        if match is not None:
            reworded.append({"from": _brief(before), "to": _brief(match)})
            removed.remove(before)
            added.remove(match)
    fields = ("task", "labels", "default_label", "calibrations", "show_rules", "scoring_mode", "categories")
    kept = [i for i in old_by_id if i in new_by_id]
    return {
        "old": f"{old.version} ({old.sha256[:12]})",
        "new": f"{new.version} ({new.sha256[:12]})",
        "added": [_brief(i) for i in added],
        "removed": [_brief(i) for i in removed],
        "reworded": reworded,
        "kept": sorted(kept),
        # the prompt's order is the rules' lettering and priority; exemplars are shown to the student: both
        # change decisions, so both are listed even when no rule's text changed
        "reordered": [i for i in kept if i in new_by_id] != [i for i in new_by_id if i in old_by_id],
        "exemplars_changed": [
            i for i in kept if old_by_id[i].provenance.exemplars != new_by_id[i].provenance.exemplars
        ],
        "category_changed": [i for i in kept if old_by_id[i].category != new_by_id[i].category],
        "other_changes": [name for name in fields if getattr(old, name) != getattr(new, name)],
    }


def _closest(instruction: Instruction, candidates: list[Instruction]) -> Instruction | None:
    scored = [(difflib.SequenceMatcher(None, instruction.text, c.text).ratio(), c) for c in candidates]
    best = max(scored, key=lambda pair: pair[0], default=None)
    return best[1] if best is not None and best[0] >= REWORDED_SIMILARITY else None


def _brief(instruction: Instruction) -> dict[str, str]:
    return {"id": instruction.id, "label": instruction.target_label, "text": instruction.text}


def _operator() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return f"unknown@{socket.gethostname()}"
