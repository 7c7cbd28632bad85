"""``EvaluationReport``: the structured result of an evaluation, and what is rendered from it
(the Markdown table and the JSON file). Every figure is explained in docs/METRICS.md.

The JSON layout (``{"metrics": {...}, "meta": {...}}``, flat metric keys such as
``eq_r_exact_t100``) is the file format read by the scripts that tabulate runs; the report is
built from it and written back to it without loss.

Example:
    >>> r = EvaluationReport(scores={"fd": 2.5}, noise_equivariance={100: {"eq_r_exact": 30.0}})
    >>> EvaluationReport.from_dict(r.to_dict()) == r
    True
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

#: The measures of ``eps_hat`` on the disc, per timestep (flat JSON key: ``<name>_t<t>``).
NOISE_MEASURES = ("eq_r_exact", "eq_r_exact_floor", "eq_r_disc", "eq_r_disc_floor",
                  "eq_t_frac_disc")
_NOISE_LABELS = {"eq_r_exact": "EQ-R (exact rotation)",
                 "eq_r_exact_floor": "the floor of EQ-R (exact rotation)",
                 "eq_r_disc": "EQ-R", "eq_r_disc_floor": "the floor of EQ-R",
                 "eq_t_frac_disc": "EQ-T_frac"}
_SCORE_ROWS = [
    ("fd", "FD ({ext})", "{:.3f}"),
    ("kid_x100", "KID x100", "{:.4f}"),
    ("is", "IS", "{:.3f}"),
    ("is_real", "IS of the real data", "{:.3f}"),
    ("fd_rotated", "FD rotated {rot} deg vs rotated data", "{:.3f}"),
    ("kid_rotated_x100", "KID x100 rotated {rot} deg", "{:.4f}"),
    ("eq_t", "EQ-T of the raw UNet output (dB)", "{:.2f}"),
    ("eq_t_frac", "EQ-T_frac of the raw UNet output (dB)", "{:.2f}"),
    ("eq_r", "EQ-R of the raw UNet output (dB)", "{:.2f}"),
]


@dataclasses.dataclass
class EvaluationReport:
    """What ``evaluate`` measured.

    Attributes:
        scores: sample quality and the raw UNet's equivariance: ``fd``, ``kid_x100``,
            ``kid_std_x100``, ``is``, ``is_std``, ``is_real``, ``fd_rotated``,
            ``kid_rotated_x100``, ``eq_t``, ``eq_t_frac``, ``eq_r`` (those measured), and
            ``rotation_agreement`` (``{"<angle>": {"kept", "psnr_db", "psnr_db_median"}}``).
        noise_equivariance: ``{timestep: {measure: dB}}`` for the measures of
            :data:`NOISE_MEASURES`.
        rotation_consistency: ``{rotation_method: {"mean": dB, "per_angle": {"90": dB, ...}}}``;
            ``meta["rotation_method"]`` is the main one.
        meta: settings, extractor, checkpoint, versions, timing.
    """

    scores: dict = dataclasses.field(default_factory=dict)
    noise_equivariance: dict = dataclasses.field(default_factory=dict)
    rotation_consistency: dict = dataclasses.field(default_factory=dict)
    meta: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        """The JSON layout: ``{"metrics": {flat keys}, "meta": {...}}``."""
        metrics = dict(self.scores)
        for t, measures in sorted(self.noise_equivariance.items()):
            metrics.update({f"{name}_t{int(t)}": v for name, v in measures.items()})
        main = self.meta.get("rotation_method", "fft")
        for method, rc in self.rotation_consistency.items():
            suffix = "" if method == main else f"_{method}"
            metrics[f"rotation_consistency{suffix}"] = rc["mean"]
            metrics[f"rotation_consistency_per_angle{suffix}"] = dict(rc["per_angle"])
        return {"metrics": metrics, "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, report: dict) -> "EvaluationReport":
        """Read the JSON layout back (an ``evaluation.json`` of any format version)."""
        metrics, meta = dict(report.get("metrics", {})), dict(report.get("meta", {}))
        noise, consistency = {}, {}
        main = meta.get("rotation_method", "fft")
        for key in list(metrics):
            name, _, t = key.rpartition("_t")
            if name in NOISE_MEASURES and t.isdigit():
                noise.setdefault(int(t), {})[name] = metrics.pop(key)
        for key in [k for k in metrics if k.startswith("rotation_consistency")
                    and not k.startswith("rotation_consistency_per_angle")]:
            method = key[len("rotation_consistency_"):] or main
            per = metrics.pop(key.replace("rotation_consistency",
                                          "rotation_consistency_per_angle", 1), {})
            consistency[method] = {"mean": metrics.pop(key), "per_angle": per}
        return cls(metrics, noise, consistency, meta)


def _as_report(report):
    return report if isinstance(report, EvaluationReport) else EvaluationReport.from_dict(report)


def _fmt(value, fmt):
    return "inf" if isinstance(value, float) and math.isinf(value) else fmt.format(value)


def format_table(report) -> str:
    """A Markdown table of an :class:`EvaluationReport` (or its JSON dict).

    Example:
        >>> print(format_table(EvaluationReport(scores={"fd": 1.0}, meta={"extractor": "x"})))
        | metric | value |
        |---|---:|
        | FD (x) | 1.000 |
    """
    r = _as_report(report)
    s, meta = r.scores, r.meta
    lines = ["| metric | value |", "|---|---:|"]
    for key, label, fmt in _SCORE_ROWS:
        if key not in s:
            continue
        text = _fmt(s[key], fmt)
        if key == "kid_x100" and "kid_std_x100" in s:
            text += f" ± {s['kid_std_x100']:.4f}"
        if key == "is" and "is_std" in s:
            text += f" ± {s['is_std']:.3f}"
        label = label.format(ext=meta.get("extractor", "?"), rot=meta.get("rotated_fd_angle"))
        lines.append(f"| {label} | {text} |")
    for angle, m in (s.get("rotation_agreement") or {}).items():
        lines.append(f"| rotation agreement at {angle} deg: kept class, turned-back PSNR on "
                     f"the disc | {m['kept']:.3f}, {_fmt(m['psnr_db'], '{:.2f}')} dB |")
    for name in NOISE_MEASURES:
        for t in sorted(r.noise_equivariance):
            if name in r.noise_equivariance[t]:
                lines.append(f"| {_NOISE_LABELS[name]} of eps_hat on the disc, t = {t} (dB) | "
                             f"{_fmt(r.noise_equivariance[t][name], '{:.2f}')} |")
    main = meta.get("rotation_method", "fft")
    for method, rc in sorted(r.rotation_consistency.items(), key=lambda kv: kv[0] != main):
        what = "rotation consistency" + ("" if method == main else f", {method} rotation")
        lines.append(f"| {what} (dB) | {_fmt(rc['mean'], '{:.2f}')} |")
        if rc.get("per_angle"):
            lines.append("| ... per angle (dB) | " + ", ".join(
                f"{k}: {v:.2f}" for k, v in rc["per_angle"].items()) + " |")
    return "\n".join(lines)


def write_json(report, path):
    """Write a report (or its dict) as JSON; ``inf`` is written as the string ``"inf"``.

    Example:
        >>> import tempfile
        >>> p = write_json(EvaluationReport(scores={"eq_r": float("inf")}),
        ...                tempfile.mkdtemp() + "/r.json")
        >>> json.load(open(p))["metrics"]["eq_r"]
        'inf'
    """

    def clean(o):
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, (np.floating, float)):
            o = float(o)
            return o if math.isfinite(o) else str(o)
        if isinstance(o, np.integer):
            return int(o)
        return o

    data = report.to_dict() if isinstance(report, EvaluationReport) else report
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(clean(data), f, indent=2)
        f.write("\n")
    return path


__all__ = ["EvaluationReport", "NOISE_MEASURES", "format_table", "write_json"]
