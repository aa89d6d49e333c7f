"""Learning P(converts) from leads with a known outcome, and evaluating it honestly.

The model is a scikit-learn `Pipeline`: numbers through a signed log (counts and
budgets are skewed), a median imputer that adds a "was unknown" indicator, a scaler;
texts one-hot encoded (rare values pooled, unknown ones ignored); then an L2-regularised
logistic regression. Its weights are the learned effects, so every score can say which
factors moved it (`explain`) and the page can show them in words.

Evaluation is on leads the evaluated model never saw: the latest outcomes when their
dates separate them (a time-ordered split: the model is judged on the future), else —
when the outcomes share their dates, as an import's do — a stratified split with a fixed
seed. The rule score (fit + engagement) is scored on the same held-out leads. The model
kept is then fitted again on every outcome.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import joblib
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from scoring.predictive.features import FLAGS, Frame, Spec

MIN_PER_CLASS = 50  # outcomes of each kind (converted, not) below which it refuses
HELD_OUT = 0.25  # the share of outcomes kept aside to evaluate on
MIN_HELD_OUT_PER_CLASS = 10  # a time split needs this many of each kind held out
SEED = 0
# Activated only when it beats the rule score on the held-out leads by this much, and
# tells converters from the rest at least this well (0.5 is a coin).
BEAT_BY = 0.01
MIN_AUC = 0.55
MIN_CATEGORY = 10  # values seen fewer times are pooled as "another value"
REGULARISATION = 1.0  # LogisticRegression's C
BINS = 10  # reliability bins of predicted probability
FACTORS = 15  # learned effects kept for the page and the API
MIN_WEIGHT = 0.05  # weaker ones (under ±5 % on the odds) are not worth a line


class TooFewOutcomes(Exception):
    """Fewer outcomes of a kind than MIN_PER_CLASS: the message says what it needs."""


def signed_log1p(values):
    values = np.asarray(values, dtype=float)
    return np.sign(values) * np.log1p(np.abs(values))


def pipeline(spec: Spec) -> Pipeline:
    numbers = list(range(len(spec.numbers)))
    texts = list(range(len(spec.numbers), len(spec.columns)))
    parts = []
    if numbers:
        parts.append((
            "numbers",
            Pipeline([
                ("log", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
                ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                ("scale", StandardScaler()),
            ]),
            numbers,
        ))  # fmt: skip
    if texts:
        parts.append((
            "texts",
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_CATEGORY,
                          sparse_output=False, dtype=np.float64),
            texts,
        ))  # fmt: skip
    return Pipeline([
        ("columns", ColumnTransformer(parts, sparse_threshold=0)),
        ("model", LogisticRegression(C=REGULARISATION, max_iter=2000)),
    ])  # fmt: skip


def useless_columns(spec: Spec, X: np.ndarray) -> list[dict]:
    """Columns that cannot tell leads apart: one value for every lead, or empty for all
    (a missing value counts as a value). Each as {column, label, why}."""
    found = []
    for i, name in enumerate(spec.columns):
        column = X[:, i]
        if name in spec.numbers:
            numbers = column.astype(float)
            known = numbers[~np.isnan(numbers)]
            if not len(known):
                why = "empty for every lead"
            elif len(np.unique(known)) == 1 and len(known) == len(numbers):
                why = "the same value for every lead"
            else:
                continue
        else:
            values = set(column.tolist())
            if values <= {""}:
                why = "empty for every lead"
            elif len(values) == 1:
                why = "the same value for every lead"
            else:
                continue
        found.append({"column": name, "label": spec.label(name), "why": why})
    return found


def split(frame: Frame) -> tuple[np.ndarray, np.ndarray, str]:
    """Train and held-out indexes, and which split: "time" when the latest outcomes'
    dates come after every other one's (with enough of each kind among them), else
    "stratified" (fixed seed)."""
    n = len(frame)
    order = np.lexsort((frame.ids, frame.when))
    cut = frame.when[order[int(n * (1 - HELD_OUT))]]
    # The leads judged at or after the cut's instant are held out: an instant shared by
    # both sides would not be "later". Dates separate the outcomes when that leaves a
    # held-out share of at most half, with enough of each kind on both sides.
    later = frame.when >= cut
    held, kept = np.flatnonzero(later), np.flatnonzero(~later)
    if len(held) <= n / 2 and all(
        min((frame.y[part] == 1).sum(), (frame.y[part] == 0).sum()) >= MIN_HELD_OUT_PER_CLASS
        for part in (held, kept)
    ):
        return kept, held, "time"
    kept, held = train_test_split(
        np.arange(n), test_size=HELD_OUT, stratify=frame.y, random_state=SEED
    )
    return np.sort(kept), np.sort(held), "stratified"


def calibration(y: np.ndarray, p: np.ndarray) -> list[dict]:
    """Reliability bins: predicted vs observed conversion, with the count of leads."""
    bins = []
    edges = np.linspace(0, 1, BINS + 1)
    where = np.clip(np.digitize(p, edges[1:-1]), 0, BINS - 1)
    for b in range(BINS):
        inside = where == b
        count = int(inside.sum())
        if count:
            bins.append({
                "low": round(float(edges[b]), 2), "high": round(float(edges[b + 1]), 2),
                "predicted": round(float(p[inside].mean()), 4),
                "observed": round(float(y[inside].mean()), 4), "count": count,
            })  # fmt: skip
    return bins


@dataclass
class Trained:
    """A fitted model with what the page, the API and the explanation need."""

    spec: Spec
    fitted: Pipeline
    outcomes: int
    positives: int
    held_out: int
    split: str
    auc: float
    rule_auc: float
    brier: float
    calibration: list[dict]
    ignored: list[dict]
    features: list[dict] = field(default_factory=list)  # every output column, in order
    center: np.ndarray | None = None  # the mean of each output column on the outcomes

    @property
    def beats_rules(self) -> bool:
        return self.auc >= MIN_AUC and self.auc >= self.rule_auc + BEAT_BY

    def factors(self) -> list[dict]:
        """The strongest learned effects: feature (in words), weight (log-odds; per step
        of a typical spread for numbers), odds (its factor on the odds)."""
        weights = self.fitted.named_steps["model"].coef_[0]
        ranked = sorted(range(len(weights)), key=lambda j: -abs(weights[j]))[:FACTORS]
        return [
            {"feature": self.features[j]["words"], "weight": round(float(weights[j]), 4),
             "odds": round(math.exp(weights[j]), 3)}
            for j in ranked if abs(weights[j]) >= MIN_WEIGHT
        ]  # fmt: skip

    def dumps(self) -> bytes:
        buffer = io.BytesIO()
        joblib.dump({"fitted": self.fitted, "features": self.features, "center": self.center,
                     "spec": self.spec.as_json()}, buffer, compress=3)  # fmt: skip
        return buffer.getvalue()


def _features(spec: Spec, fitted: Pipeline) -> list[dict]:
    """Every output column of the fitted pipeline: what it is, in words."""
    columns = fitted.named_steps["columns"]
    out = []
    if "numbers" in columns.named_transformers_:
        out += [{"column": n, "kind": "number", "words": spec.higher(n)} for n in spec.numbers]
        imputer = columns.named_transformers_["numbers"].named_steps["impute"]
        if imputer.indicator_ is not None:
            for i in imputer.indicator_.features_:
                label = spec.label(spec.numbers[i])
                out.append({"column": spec.numbers[i], "kind": "missing",
                            "words": f"{label} unknown"})  # fmt: skip
    if "texts" in columns.named_transformers_:
        encoder = columns.named_transformers_["texts"]
        infrequent = encoder.infrequent_categories_
        for i, name in enumerate(spec.texts):
            label = spec.label(name)
            rare = set(infrequent[i].tolist()) if infrequent[i] is not None else set()
            for value in encoder.categories_[i]:
                if value in rare:
                    continue
                words = f"{label} unknown" if value == "" else f"{label} is {_value(name, value)}"
                out.append({"column": name, "kind": "value", "value": value, "words": words})
            if rare:
                out.append({"column": name, "kind": "rare",
                            "words": f"{label} is a rarely seen value"})  # fmt: skip
    return out


def _value(name: str, value: str) -> str:
    if name == "source":
        from leads.models import Source

        return dict(Source.choices).get(value, value)
    return value


def train(spec: Spec, frame: Frame) -> Trained:
    """Evaluate on held-out outcomes, then fit on every outcome. TooFewOutcomes below
    MIN_PER_CLASS of a kind; useless columns are left out first."""
    positives, negatives = int((frame.y == 1).sum()), int((frame.y == 0).sum())
    if min(positives, negatives) < MIN_PER_CLASS:
        raise TooFewOutcomes(
            f"The predictive model needs at least {MIN_PER_CLASS} leads that converted and "
            f"{MIN_PER_CLASS} that did not; there are {positives} and {negatives}."
        )
    ignored = useless_columns(spec, frame.X)
    dropped = {c["column"] for c in ignored}
    keep = [i for i, name in enumerate(spec.columns) if name not in dropped]
    kept_spec = spec.kept({spec.columns[i] for i in keep})
    X = frame.X[:, keep]
    if not kept_spec.columns:
        raise TooFewOutcomes("Every column holds one value for every lead: nothing to learn.")
    train_at, held_at, how = split(frame)
    evaluated = pipeline(kept_spec).fit(X[train_at], frame.y[train_at])
    p = evaluated.predict_proba(X[held_at])[:, 1]
    y_held = frame.y[held_at]
    auc = float(roc_auc_score(y_held, p))
    rule_auc = float(roc_auc_score(y_held, frame.rule[held_at]))
    fitted = pipeline(kept_spec).fit(X, frame.y)
    trained = Trained(
        spec=kept_spec, fitted=fitted, outcomes=len(frame), positives=positives,
        held_out=len(held_at), split=how, auc=auc, rule_auc=rule_auc,
        brier=float(brier_score_loss(y_held, p)), calibration=calibration(y_held, p),
        ignored=ignored,
    )  # fmt: skip
    trained.features = _features(kept_spec, fitted)
    trained.center = fitted.named_steps["columns"].transform(X).mean(axis=0)
    return trained


@dataclass
class Loaded:
    """A stored model, ready to score and explain."""

    spec: Spec
    fitted: Pipeline
    features: list[dict]
    center: np.ndarray

    @classmethod
    def loads(cls, blob: bytes) -> Loaded:
        data = joblib.load(io.BytesIO(bytes(blob)))
        return cls(spec=Spec.from_json(data["spec"]), fitted=data["fitted"],
                   features=data["features"], center=data["center"])  # fmt: skip

    def scores(self, X: np.ndarray) -> np.ndarray:
        """0-100 for each row."""
        if not len(X):
            return np.empty(0, dtype=np.int16)
        p = self.fitted.predict_proba(X)[:, 1]
        return np.rint(p * 100).astype(np.int16)

    def explain(self, X: np.ndarray, *, top: int = 4) -> list[dict]:
        """The factors that moved one lead's score most (its row `X[0]`), each with its
        words and whether it raised or lowered the odds: the linear contributions
        (weight times how far the lead is from the average lead)."""
        columns = self.fitted.named_steps["columns"]
        z = columns.transform(X)[0]
        weights = self.fitted.named_steps["model"].coef_[0]
        contributions = weights * (z - self.center)
        shown = []
        for j in np.argsort(-np.abs(contributions)):
            feature = self.features[j]
            if feature["kind"] in ("value", "rare", "missing") and z[j] < 0.5:
                continue  # only what the lead is, not every value it is not
            if abs(contributions[j]) < 0.05:
                break
            shown.append({"words": self._words(feature, X[0]), "raises": contributions[j] > 0,
                          "odds": round(math.exp(contributions[j]), 2)})  # fmt: skip
            if len(shown) == top:
                break
        return shown

    def _words(self, feature: dict, row: np.ndarray) -> str:
        if feature["kind"] != "number":
            return feature["words"]
        value = row[self.spec.columns.index(feature["column"])]
        label = self.spec.label(feature["column"])
        if isinstance(value, float) and math.isnan(value):
            return f"{label} unknown"
        if feature["column"] in FLAGS:
            return f"{label}: {'yes' if value else 'no'}"
        shown = f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:.1f}"
        return f"{label}: {shown}"
