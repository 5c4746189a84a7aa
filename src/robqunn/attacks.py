"""White-box L-infinity attacks: thin, explicit adapters over cleverhans' TensorFlow 2 functions.

One function per attack, every argument passed explicitly from params (cleverhans' defaults differ
between FGM and MIM). The model function must return LOGITS: cleverhans' loss is softmax
cross-entropy with logits, and differentiating the softmax output instead flattens the gradient (a
classic source of false robustness). The true labels are passed, so no label is inferred from the
model. Each adversarial set is checked to lie in the eps-ball and in [0, 1]; a violation is an error.

A model that samples (a finite-shot QuNN) is attacked with expectation over transformation (EOT, Athalye
et al. 2018): :func:`eot` makes every gradient the mean over R sampling draws, inside cleverhans' own loops.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method
from cleverhans.tf2.attacks.momentum_iterative_method import momentum_iterative_method
from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent
from cleverhans.tf2.attacks.spsa import SPSAAdam, margin_logit_loss, projected_optimization
from cleverhans.tf2.utils import clip_eta, compute_gradient, optimize_linear

from robqunn.artifacts import PIXEL_MAX, PIXEL_MIN, check_threat_model
from robqunn.config import FgsmParams, MimParams, MimSteps, PgdParams, PgdSteps, SpsaParams
from robqunn.quanv import digits_from
from robqunn.vocabulary import AttackName

LogitsFn = Callable[[tf.Tensor], tf.Tensor]


def fgsm(logits_fn: LogitsFn, x: tf.Tensor, y: tf.Tensor, eps: float, params: FgsmParams) -> tf.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): x + eps * sign(grad), clipped to [0, 1]."""
    return fast_gradient_method(logits_fn, x, eps, np.inf, clip_min=PIXEL_MIN, clip_max=PIXEL_MAX, y=y, targeted=False)


def pgd(
    logits_fn: LogitsFn, x: tf.Tensor, y: tf.Tensor, eps: float, params: PgdParams | PgdSteps, loss_fn=None
) -> tf.Tensor:
    """Projected gradient descent (Madry et al. 2018), optionally from a random point of the ball, ascending
    ``loss_fn`` (default: cleverhans' cross-entropy)."""
    return projected_gradient_descent(
        logits_fn,
        x,
        eps,
        eps_iter=params.eps_iter_fraction * eps,
        nb_iter=params.nb_iter,
        norm=np.inf,
        loss_fn=loss_fn,
        clip_min=PIXEL_MIN,
        clip_max=PIXEL_MAX,
        y=y,
        targeted=False,
        rand_init=params.rand_init,
        rand_minmax=eps,
        sanity_checks=False,
    )


def mim(logits_fn: LogitsFn, x: tf.Tensor, y: tf.Tensor, eps: float, params: MimParams | MimSteps) -> tf.Tensor:
    """Momentum iterative method (Dong et al. 2018)."""
    return momentum_iterative_method(
        logits_fn,
        x,
        eps=eps,
        eps_iter=params.eps_iter_fraction * eps,
        nb_iter=params.nb_iter,
        norm=np.inf,
        clip_min=PIXEL_MIN,
        clip_max=PIXEL_MAX,
        y=y,
        targeted=False,
        decay_factor=params.decay_factor,
        sanity_checks=False,
    )


ATTACKS = {AttackName.FGSM: fgsm, AttackName.PGD: pgd, AttackName.MIM: mim}
AttackFn = Callable[[LogitsFn, tf.Tensor, tf.Tensor], tf.Tensor]


def eot(attack_fn: AttackFn, draws: int) -> AttackFn:
    """``attack_fn(logits_fn, x, y)`` with every gradient averaged over ``draws`` sampling draws (EOT).

    Why this is EOT inside cleverhans' loops: the wrapped model function returns the logits of ``draws``
    calls on the digits, (B, draws, classes), each call a new sampling draw of every digit, and the labels
    are repeated to (B, draws); cleverhans' per-digit loss then has one term per draw and its gradient is the
    sum of the draws' gradients, ``draws`` times their mean. FGSM and PGD step along its sign and MIM along it
    divided by its mean magnitude, so the factor changes no step. With one draw it is the attack itself.
    Separate calls, not one on repeated digits: a finite-shot layer seeds each digit's draws by its row
    (quanv.digits_from), and a repeated digit would take another digit's row.
    """
    if draws == 1:
        return attack_fn

    def attack(logits_fn: LogitsFn, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        def draws_logits(images: tf.Tensor) -> tf.Tensor:
            return tf.stack([logits_fn(images) for _ in range(draws)], axis=1)

        return attack_fn(draws_logits, x, tf.repeat(y[:, None], draws, axis=1))

    return attack


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-digit softmax cross-entropy: the loss cleverhans' FGSM, PGD and MIM ascend by default."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def margin_loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-digit margin (Carlini-Wagner) loss, max_{t != y} z_t - z_y (cleverhans' margin_logit_loss): what an
    untargeted attack ascends. Unlike cross-entropy it does not saturate when the softmax is confident."""
    return margin_logit_loss(logits, labels, nb_classes=logits.shape[-1])


def input_gradient(logits_fn: LogitsFn, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Gradient of the cross-entropy loss with respect to the pixels (cleverhans' compute_gradient)."""
    return compute_gradient(logits_fn, cross_entropy, x, y, False)


def jitter(x: tf.Tensor, radius: float) -> tf.Tensor:
    """``x`` plus uniform noise in [-radius, radius] (TensorFlow's global generator), reflected into [0, 1].

    Reflected, not clipped: clipping would put half of the black pixels (and of the white ones) back on the
    bound, where a ReLU or a cos(pi x) readout is flat, and the jitter would not leave the flat point.
    """
    moved = tf.abs(x + tf.random.uniform(tf.shape(x), -radius, radius))
    return PIXEL_MAX - tf.abs(PIXEL_MAX - moved)


def jittered_fgsm(logits_fn: LogitsFn, x: tf.Tensor, y: tf.Tensor, eps: float, radius: float) -> tf.Tensor:
    """FGSM whose gradient is taken at a jittered point, ``jitter(x, radius)``; the step starts from ``x``.

    Where the loss is flat at ``x`` itself (a ReLU that is off on black pixels gives exactly-zero gradient
    entries, and FGSM leaves those pixels alone), a point a hair away may have the gradient FGSM lacks.
    """
    grad = input_gradient(logits_fn, jitter(x, radius), y)
    return tf.clip_by_value(x + optimize_linear(grad, eps, np.inf), PIXEL_MIN, PIXEL_MAX)


def rfgsm(logits_fn: LogitsFn, x: tf.Tensor, y: tf.Tensor, eps: float, alpha: float) -> tf.Tensor:
    """R+FGSM (Tramer et al. 2018): a random sign step of ``alpha``, then cleverhans' FGSM of ``eps - alpha``
    from there; the two steps stay within the eps-ball of ``x``."""
    signs = tf.sign(tf.random.normal(tf.shape(x)))
    start = tf.clip_by_value(x + alpha * signs, PIXEL_MIN, PIXEL_MAX)
    return fast_gradient_method(
        logits_fn, start, eps - alpha, np.inf, clip_min=PIXEL_MIN, clip_max=PIXEL_MAX, y=y, targeted=False
    )


def mim_random_start(logits_fn: LogitsFn, x: tf.Tensor, y: tf.Tensor, eps: float, steps: MimSteps) -> tf.Tensor:
    """MIM (Dong et al. 2018) from a uniform random point of the eps-ball instead of ``x`` itself."""
    start = tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -eps, eps), PIXEL_MIN, PIXEL_MAX)
    return mim_from(logits_fn, x, y, eps, steps, start)


def mim_from(
    logits_fn: LogitsFn, x: tf.Tensor, y: tf.Tensor, eps: float, steps: MimSteps, start: tf.Tensor
) -> tf.Tensor:
    """MIM within the eps-ball of ``x``, its first gradient taken at ``start``.

    cleverhans' momentum_iterative_method always starts at ``x``, so this is its loop, step for step and
    with its own utilities; from ``start = x`` it gives cleverhans' result (tested).
    """
    eps_iter, momentum, adv = steps.eps_iter_fraction * eps, tf.zeros_like(x), start
    axes = list(range(1, len(x.shape)))
    for _ in range(steps.nb_iter):
        grad = input_gradient(logits_fn, adv, y)
        momentum = steps.decay_factor * momentum + grad / tf.maximum(1e-12, tf.reduce_mean(tf.abs(grad), axes, True))
        adv = x + clip_eta(adv + optimize_linear(momentum, eps_iter, np.inf) - x, np.inf, eps)
        adv = tf.clip_by_value(adv, PIXEL_MIN, PIXEL_MAX)
    return adv


def pgd_margin(logits_fn: LogitsFn, x: tf.Tensor, y: tf.Tensor, eps: float, steps: PgdSteps) -> tf.Tensor:
    """cleverhans' PGD ascending the margin loss (:func:`margin_loss`) instead of cross-entropy."""
    return pgd(logits_fn, x, y, eps, steps, loss_fn=margin_loss)


def autoattack(logits_fn: LogitsFn, x: np.ndarray, y: np.ndarray, eps: float, settings, batch_size: int) -> np.ndarray:
    """ART's AutoAttack (Croce and Hein 2020) under L-infinity: APGD with cross-entropy, APGD with the
    difference-of-logits-ratio loss (untargeted, then targeted at each other class: APGD-T) and the gradient-free
    Square attack, each run on the digits the ones before left standing. An attack suite independent of
    cleverhans, through ART's TensorFlow v2 classifier on the logits. ``settings``: checks.autoattack. Seed NumPy's
    and TensorFlow's global generators first (ART draws APGD's and Square's random starts from them)."""
    import keras
    from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification import TensorFlowV2Classifier

    # Square perturbs images of shape (H, W, C): ART sees the digits with a channel axis, dropped before the model
    image = tuple(x.shape[1:]) + (1,)
    channelled = keras.Sequential([keras.Input(image), keras.layers.Reshape(tuple(x.shape[1:])), logits_fn])
    classifier = TensorFlowV2Classifier(
        channelled,
        nb_classes=int(logits_fn.output_shape[-1]),
        input_shape=image,
        loss_object=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(PIXEL_MIN, PIXEL_MAX),
    )
    common = {"norm": np.inf, "eps": eps, "batch_size": batch_size, "verbose": False}
    apgd = {"eps_step": 2 * eps, "max_iter": settings.max_iter, "nb_random_init": settings.restarts} | common
    attacks = [
        AutoProjectedGradientDescent(classifier, loss_type="cross_entropy", **apgd),
        AutoProjectedGradientDescent(classifier, loss_type="difference_logits_ratio", **apgd),
        SquareAttack(classifier, max_iter=settings.square_queries, **common),
    ]
    suite = AutoAttack(classifier, norm=np.inf, eps=eps, attacks=attacks, batch_size=batch_size, targeted=True)
    x_adv = suite.generate(np.asarray(x, np.float32)[..., None], y=np.asarray(y))[..., 0].astype(np.float32)
    check_threat_model(x, x_adv, eps, f"AutoAttack, eps {eps}")
    return x_adv


def craft(
    logits_fn: LogitsFn,
    x: np.ndarray,
    y: np.ndarray,
    attack: AttackName,
    eps: float,
    settings: FgsmParams | PgdParams | PgdSteps | MimParams,
    batch_size: int,
    seed: int,
    source: str = "model",
    draws: int = 1,
) -> np.ndarray:
    """Adversarial examples of ``x`` (float32 in [0, 1]) in batches, checked against the threat model.

    Args:
        logits_fn: pixels -> pre-softmax logits (models.logits_model).
        settings: the attack's hyper-parameters (AttackParams.of(attack); for PGD its steps suffice).
        batch_size: digits per attack call (memory only).
        seed: seeds TensorFlow's global generator, the only way to seed PGD's random start.
        source: the attacked model's name, for error messages.
        draws: sampling draws per gradient (:func:`eot`); 1 for a model that does not sample.

    Raises:
        AdversarialError: an example leaves the eps-ball or [0, 1].
    """
    attack = AttackName(attack)
    if eps == 0:  # the ball is the digit itself: FGSM, PGD and MIM return it bit for bit (tested), at no cost
        return np.array(x, np.float32)
    run = eot(lambda f, xb, yb: ATTACKS[attack](f, xb, yb, eps, settings), draws)
    return craft_with(
        lambda xb, yb: run(logits_fn, xb, yb),
        (x, y),
        eps,
        (batch_size, seed),
        f"model {source!r}, attack {attack.value}",
    )


def craft_with(
    attack_fn, digits: tuple[np.ndarray, np.ndarray], eps: float, batching: tuple[int, int], where: str
) -> np.ndarray:
    """``attack_fn(x_batch, y_batch)`` over ``digits`` in batches of ``batching[0]``, TensorFlow's global
    generator seeded with ``batching[1]`` first (the random starts), checked against the eps-ball.

    Raises:
        AdversarialError: an example leaves the eps-ball or [0, 1] (``where`` names the attack).
    """
    (x, y), (batch_size, seed) = digits, batching
    tf.random.set_seed(seed)
    batches = []
    for i in range(0, len(x), batch_size):
        xb = tf.constant(x[i : i + batch_size], tf.float32)
        yb = tf.constant(y[i : i + batch_size], tf.int64)
        with digits_from(i):
            batches.append(np.asarray(attack_fn(xb, yb)))
    x_adv = np.concatenate(batches).astype(np.float32) if batches else np.empty_like(x, np.float32)
    check_threat_model(x, x_adv, eps, f"{where}, eps {eps}")
    return x_adv


class _SpsaAdam(SPSAAdam):
    """cleverhans' SPSAAdam, made to construct under Keras 3.

    cleverhans 4.0 builds it with ``Adam(lr=...)``, which Keras 3 refuses ("Argument(s) not
    recognized: {'lr': ...}"), so its ``spsa()`` cannot run with TensorFlow >= 2.16. This subclass
    only renames that argument; the SPSA gradient estimate and the Adam update are cleverhans' own
    (they read ``lr``, ``beta_1``, ``beta_2`` and ``epsilon``).
    """

    def __init__(self, lr: float, delta: float, num_samples: int):
        tf.optimizers.Adam.__init__(self, learning_rate=lr)
        self.lr = lr
        self._delta = delta
        self._num_samples = num_samples // 2  # mirrored +/- delta, as in cleverhans
        self._num_iters = 1
        self._compare_to_analytic_grad = False


def spsa_loss(logits_fn: LogitsFn) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """What SPSA minimises, as cleverhans' untargeted ``spsa()`` builds it: minus the margin loss."""

    def loss(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        return -margin_loss(labels, logits_fn(images))

    return loss


def craft_spsa(
    logits_fn: LogitsFn, x: np.ndarray, y: np.ndarray, eps: float, params: SpsaParams, seed: int, source: str = "model"
) -> np.ndarray:
    """Gradient-free SPSA (Uesato et al. 2018) examples of ``x``, checked against the threat model.

    SPSA estimates the gradient from random perturbations of the input, so it still works where the
    model's own gradient is masked or misleading. This is cleverhans' ``spsa()`` step for step
    (``projected_optimization`` of the untargeted margin logit loss from a random start), with the
    Keras 3 optimizer shim above; like cleverhans, one digit per call, here of one compiled function
    (eagerly, cleverhans' ``tf.while_loop`` runs op by op: 3-7x slower, `robqunn bench loops`). The random
    draws come from ``seed`` in the order of the digits, so a set of digits gives the same examples every time.
    """

    loss_fn = spsa_loss(logits_fn)
    tf.random.set_seed(seed)
    optimizer = _SpsaAdam(params.learning_rate, params.delta, params.spsa_samples)  # its state is passed, not kept

    @tf.function
    def attack_one(xi: tf.Tensor, yi: tf.Tensor) -> tf.Tensor:
        return projected_optimization(loss_fn, xi, yi, eps, params.nb_iter, optimizer, PIXEL_MIN, PIXEL_MAX)

    examples = [
        attack_one(tf.constant(x[i : i + 1], tf.float32), tf.constant(y[i : i + 1], tf.int64)).numpy()
        for i in range(len(x))
    ]
    x_adv = np.concatenate(examples).astype(np.float32) if examples else np.empty_like(x, np.float32)
    check_threat_model(x, x_adv, eps, f"model {source!r}, attack spsa, eps {eps}")
    return x_adv
