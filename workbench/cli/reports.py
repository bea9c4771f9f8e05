"""``workbench report`` and ``demo``: executed notebooks as self-contained HTML."""

from __future__ import annotations

import os
import sys

from workbench.demo import run_demo
from workbench.views.reporting import parse_params, run_report
from workbench.views.report_run import template_parameter_help
from workbench.cli.common import EXIT_OK, add_command, banner, check_out_dir, add_out_option
from workbench.serialize import loads_json, size_text


def add_report(sub) -> None:
    rp = add_command(sub, "report", help="execute a report template with papermill into reports/<name>/<timestamp>/ (notebook, HTML, metrics.json)",
              example=("workbench report experiment_report -p run_dir=runs/emodb",))
    rp.add_argument("template", help="experiment_report, variant_comparison, checkpoint_comparison, or a notebook path")
    rp.add_argument("--param", "-p", action="append", default=[],
                    help="NAME=VALUE (repeatable), e.g. run_dir=runs/my_run; each template's names and defaults are below")
    rp.epilog = f"{rp.epilog}\n\n{template_parameter_help()}"
    add_out_option(rp, what="receives a new <template>/<timestamp>/ folder per report", value="reports")


def add_demo(sub) -> None:
    d = add_command(sub, "demo", help="infer on the demo clips, then an experiment report on the demo set",
             example=("workbench demo --out outputs",))
    add_out_option(d, what="receives one new outputs_YYYYMMDD_HHMMSS/ folder per demo clip and, unless --reports says "
                   "otherwise, the report in DIR/reports/", default="outputs/, and the report in reports/")
    d.add_argument("--reports", default=None, metavar="DIR",
                   help="output folder of the experiment report: receives a new experiment_report/<timestamp>/ folder "
                        "(default: DIR/reports/ with --out DIR, else reports/)")
    d.add_argument("--model", default=None, help="checkpoint (default: $WORKBENCH_MODEL, a local emotion2vec_plus_large download, or tiny)")
    d.add_argument("--no-report", action="store_true", help="skip the experiment report at the end")


def cmd_report(args) -> int:
    check_out_dir(args.out)
    notes: list[str] = []
    params = parse_params(args.param, template=args.template, notes=notes)
    for note in notes:  # an old parameter name, read as its new one
        print(f"note: {note}", file=sys.stderr)
    paths = run_report(args.template, params, out=args.out)
    metrics = loads_json(paths["metrics"].read_text(encoding="utf-8"))
    banner(metrics.get("random_weights") or paths.get("random_weights"))  # a notebook that writes no metrics too
    print(f"report: {paths['html']} ({size_text(paths['html'].stat().st_size)}, self-contained)")
    print(f"executed notebook: {paths['notebook']}\nmetrics: {paths['metrics']}")
    return EXIT_OK


def cmd_demo(args) -> int:
    out = args.out or "outputs"
    # everything a demo writes goes where --out says: the report too, unless --reports names its own folder
    reports = args.reports or (os.path.join(args.out, "reports") if args.out else "reports")
    check_out_dir(out)
    if not args.no_report:
        check_out_dir(reports)
    return run_demo(out=out, model=args.model, report=not args.no_report, reports_dir=reports)


COMMANDS = {"report": cmd_report, "demo": cmd_demo}
