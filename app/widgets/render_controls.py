"""The render controls: the logarithmic lam, style-scale and (for a clip) steadiness sliders and the collapsible
Advanced panel (whose size field offers only the sizes that fit in memory). They read their defaults from
RenderSettings() and turn the widgets' state back into RenderSettings."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.plain_text import plain_label
from engine.schedule import most_iterations
from engine.settings import (
    DEVICES,
    INITS,
    ITERATIONS_MAX,
    MAX_SIZE,
    MIN_SIZE,
    OPTIMIZERS,
    PRECISIONS,
    SEED_MAX,
    STYLE_SCALE_MAX,
    STYLE_SCALE_MIN,
    RenderSettings,
)

# The lam slider's travel: where a person finds every useful balance. A lam outside it (from a preset, a restored
# PNG or the command line; engine.settings owns the range any lam must be in) is kept exactly and shown, with the
# slider at its nearest end.
LAM_SLIDER_MIN = 0.001
LAM_SLIDER_MAX = 10.0
LAM_STEPS = 1000  # slider positions; one step changes lam by under 1 %
SCALE_MIN = STYLE_SCALE_MIN  # the style scale's whole range (engine.settings owns it) is on its slider
SCALE_MAX = STYLE_SCALE_MAX
SCALE_STEPS = 400  # slider positions; one step changes the style scale by under 1 %
# The steadiness slider (engine.video_settings owns the range any steadiness must be in): 0 at its left end, then
# logarithmic from STEADINESS_LOW to STEADINESS_HIGH, the default 1 at its middle. Past 3 the style weakens.
STEADINESS_LOW = 0.1
STEADINESS_HIGH = 10.0
STEADINESS_STEPS = 200  # positions from STEADINESS_LOW to STEADINESS_HIGH; one step changes it by about 2 %

INIT_LABELS = {"noise": "Noise (grows out of it)", "content": "The content picture"}
OPTIMIZER_LABELS = {"lbfgs": "L-BFGS (fewer steps)", "adam": "Adam"}
DEVICE_LABELS = {"auto": "Automatic", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)", "cpu": "CPU"}
PRECISION_LABELS = {"auto": "Automatic (fastest, measured)", "fp32": "fp32 (float32)", "bf16": "bf16 (bfloat16)",
                    "fp16": "fp16 (GPU only)"}


def lam_to_position(lam: float) -> int:
    """Slider position for `lam`: left is more content (large lam), right is more style (small lam)."""
    lam = min(LAM_SLIDER_MAX, max(LAM_SLIDER_MIN, lam))
    span = math.log10(LAM_SLIDER_MAX) - math.log10(LAM_SLIDER_MIN)
    fraction = (math.log10(LAM_SLIDER_MAX) - math.log10(lam)) / span
    return round(fraction * LAM_STEPS)


def position_to_lam(position: int) -> float:
    """lam at a slider position, rounded to three significant figures so the number shown is the one used."""
    fraction = position / LAM_STEPS
    lam = 10 ** (math.log10(LAM_SLIDER_MAX) - fraction * (math.log10(LAM_SLIDER_MAX) - math.log10(LAM_SLIDER_MIN)))
    return float(f"{lam:.3g}")


def format_lam(lam: float) -> str:
    return f"{lam:.3g}"


def scale_to_position(scale: float) -> int:
    """Slider position for a style scale: log2, SCALE_MIN at the left, SCALE_MAX at the right."""
    scale = min(SCALE_MAX, max(SCALE_MIN, scale))
    span = math.log2(SCALE_MAX) - math.log2(SCALE_MIN)
    return round((math.log2(scale) - math.log2(SCALE_MIN)) / span * SCALE_STEPS)


def position_to_scale(position: int) -> float:
    """The style scale at a slider position, rounded to three significant figures (the number shown is used)."""
    span = math.log2(SCALE_MAX) - math.log2(SCALE_MIN)
    scale = 2 ** (math.log2(SCALE_MIN) + position / SCALE_STEPS * span)
    return float(f"{scale:.3g}")


def format_scale(scale: float) -> str:
    return f"{scale:.3g}×"


def steadiness_to_position(steadiness: float) -> int:
    """Slider position for a steadiness: 0 for 0, else 1 + its place from STEADINESS_LOW to STEADINESS_HIGH (log)."""
    if steadiness <= 0:
        return 0
    steadiness = min(STEADINESS_HIGH, max(STEADINESS_LOW, steadiness))
    span = math.log10(STEADINESS_HIGH) - math.log10(STEADINESS_LOW)
    return 1 + round((math.log10(steadiness) - math.log10(STEADINESS_LOW)) / span * STEADINESS_STEPS)


def position_to_steadiness(position: int) -> float:
    """The steadiness at a slider position, rounded to three significant figures (the number shown is used)."""
    if position <= 0:
        return 0.0
    span = math.log10(STEADINESS_HIGH) - math.log10(STEADINESS_LOW)
    steadiness = 10 ** (math.log10(STEADINESS_LOW) + (position - 1) / STEADINESS_STEPS * span)
    return float(f"{steadiness:.3g}")


def format_steadiness(steadiness: float) -> str:
    return "0 (off)" if steadiness == 0 else f"{steadiness:.3g}"


class _LabelledSlider(QWidget):
    """A titled slider over a value that is not the slider's own integer position: the value shown at the right of
    the title, the meaning of each end under the slider. `to_position`/`to_value` convert; subclasses say which
    signal carries a new value by overriding `_emit`."""

    def __init__(self, value: float, *, title: str, ends: tuple[str, str], names: tuple[str, str],
                 accessible: str, tip: str, steps: int, step: int, page: int,
                 to_position: Callable[[float], int], to_value: Callable[[int], float],
                 describe: Callable[[float], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value = float(value)
        self._to_position, self._to_value, self._describe = to_position, to_value, describe
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName(names[0])
        self.slider.setAccessibleName(accessible)
        self.slider.setToolTip(tip)
        self.slider.setRange(0, steps)
        self.slider.setSingleStep(step)
        self.slider.setPageStep(page)
        self.slider.setValue(to_position(value))
        self.slider.valueChanged.connect(self._on_slider)
        heading = plain_label(title)
        heading.setStyleSheet("font-weight: 600;")
        self.value_label = plain_label(describe(value))
        self.value_label.setObjectName(names[1])
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.value_label.setStyleSheet("font-weight: 600; font-family: monospace;")
        left, right = plain_label(ends[0]), plain_label(ends[1])
        for label in (left, right):
            label.setStyleSheet("color: #5f5f66;")
        head = QHBoxLayout()
        head.addWidget(heading)
        head.addStretch(1)
        head.addWidget(self.value_label)
        under = QHBoxLayout()
        under.addWidget(left)
        under.addStretch(1)
        under.addWidget(right)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(head)
        layout.addWidget(self.slider)
        layout.addLayout(under)

    def _set_value(self, value: float) -> None:
        """Set the value exactly (the slider moves to the nearest position without rounding the value)."""
        self._value = float(value)
        self.slider.blockSignals(True)
        self.slider.setValue(self._to_position(value))
        self.slider.blockSignals(False)
        self._show_and_emit()

    def _on_slider(self, position: int) -> None:
        self._value = self._to_value(position)
        self._show_and_emit()

    def _show_and_emit(self) -> None:
        self.value_label.setText(self._describe(self._value))
        self._emit(self._value)

    def _emit(self, value: float) -> None:
        raise NotImplementedError


class LamControl(_LabelledSlider):
    """lam = content weight / style weight, on a log slider labelled "more content" ... "more style"."""

    lamChanged = Signal(float)

    def __init__(self, lam: float, parent: QWidget | None = None) -> None:
        super().__init__(
            lam, title="lam", ends=("more content", "more style"), names=("lamSlider", "lamValue"),
            accessible="lam: balance between content and style",
            tip="lam = content weight / style weight (logarithmic). Left keeps more of the content, right takes "
                "more of the painting's style. Can be moved while a run is going.",
            steps=LAM_STEPS, step=10, page=100, to_position=lam_to_position, to_value=position_to_lam,
            describe=format_lam, parent=parent)

    @property
    def lam(self) -> float:
        return self._value

    def set_lam(self, lam: float) -> None:
        """Set lam exactly (the slider moves to the nearest position without rounding lam)."""
        self._set_value(lam)

    def _emit(self, value: float) -> None:
        self.lamChanged.emit(value)


class StyleScaleControl(_LabelledSlider):
    """How large the painting's strokes are in the result: the scale the style picture is seen at, relative to
    the result's size, on a log slider from SCALE_MIN to SCALE_MAX."""

    scaleChanged = Signal(float)

    def __init__(self, scale: float, parent: QWidget | None = None) -> None:
        super().__init__(
            scale, title="Style scale", ends=("smaller strokes", "larger strokes"),
            names=("styleScaleSlider", "styleScaleValue"),
            accessible="Style scale: the size of the painting's strokes",
            tip="The painting is seen at this size relative to the result (logarithmic): left gives smaller, "
                "finer strokes, right larger ones. The style pane previews it. Takes effect at the next Start.",
            steps=SCALE_STEPS, step=5, page=50, to_position=scale_to_position, to_value=position_to_scale,
            describe=format_scale, parent=parent)

    @property
    def scale(self) -> float:
        return self._value

    def set_scale(self, scale: float) -> None:
        """Set the scale exactly (the slider moves to the nearest position without rounding it)."""
        self._set_value(scale)

    def _emit(self, value: float) -> None:
        self.scaleChanged.emit(value)


class SteadinessControl(_LabelledSlider):
    """How steadily a clip's frames are held where it moves (VideoSettings.steadiness), on a slider with 0 at its
    left end and logarithmic from STEADINESS_LOW to STEADINESS_HIGH after it."""

    steadinessChanged = Signal(float)

    def __init__(self, steadiness: float, parent: QWidget | None = None) -> None:
        super().__init__(
            steadiness, title="Steadiness", ends=("flickers", "steadier"),
            names=("steadinessSlider", "steadinessValue"),
            accessible="Steadiness: how much each frame of the clip holds on to the one before",
            tip="For a video: how much each frame holds on to the frame before it. 0: each frame is painted on its "
                "own, and the texture flickers. More: the texture stays in place where the clip moves. Past about "
                "3 the painting's style starts to weaken. 1 is the default. Render video… takes it; a clip already "
                "in the queue keeps its own.",
            steps=STEADINESS_STEPS + 1, step=2, page=20, to_position=steadiness_to_position,
            to_value=position_to_steadiness, describe=format_steadiness, parent=parent)
        self.setObjectName("steadinessControl")

    @property
    def steadiness(self) -> float:
        return self._value

    def set_steadiness(self, steadiness: float) -> None:
        """Set the steadiness exactly (the slider moves to the nearest position without rounding it)."""
        self._set_value(steadiness)

    def _emit(self, value: float) -> None:
        self.steadinessChanged.emit(value)


def _combo(values: tuple[str, ...], labels: dict[str, str], name: str) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    for value in values:
        combo.addItem(labels.get(value, value), value)
    return combo


class AdvancedPanel(QWidget):
    """Size, iterations, start, optimiser, seed, device, precision and coarse-to-fine, under a disclosure button,
    collapsed at first. `edited` says that a field changed (by the user, or by a size limit)."""

    edited = Signal()

    def __init__(self, settings: RenderSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton()
        self.toggle.setObjectName("advancedToggle")
        self.toggle.setText("Advanced")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAutoRaise(True)
        self.toggle.setStyleSheet("font-weight: 600;")
        self.toggle.toggled.connect(self.set_expanded)

        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("sizeSpin")
        self.size_spin.setRange(MIN_SIZE, MAX_SIZE)
        self.size_spin.setSingleStep(64)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Longest side of the result. Time per iteration grows with the square of it. Sizes "
                                  "too large for one pass through the network are computed in tiles (the same "
                                  "picture, more slowly); only sizes that fit in the device's memory are offered.")
        self.size_spin.valueChanged.connect(self._on_size_changed)
        self.size_note = plain_label("")
        self.size_note.setObjectName("sizeNote")
        self.size_note.setWordWrap(True)
        self.size_note.setStyleSheet("color: #5f5f66; font-size: 11px;")
        self.size_note.setVisible(False)
        self.duration_note = plain_label("")
        self.duration_note.setObjectName("durationNote")
        self.duration_note.setWordWrap(True)
        self.duration_note.setStyleSheet("color: #5f5f66; font-size: 11px;")
        self.duration_note.setToolTip("Measured on this device when this panel was opened: the time a run usually "
                                      "takes, and the most where each scale ends when settled. The time left "
                                      "during the run comes from the same reckoning.")
        self.duration_note.setVisible(False)
        self._wanted_size = settings.size  # the size asked for, offered again when more memory is free
        self._limit_reason = ""
        self._limiting = False
        self.iterations = QSpinBox()
        self.iterations.setObjectName("iterationsSpin")
        self.iterations.setRange(0, ITERATIONS_MAX)
        self.iterations.setSingleStep(50)
        self.iterations.setToolTip("Optimisation steps; 'auto' runs up to the optimiser's usual number, each scale "
                                   "ending early once its picture has settled.")
        self.init = _combo(INITS, INIT_LABELS, "initCombo")
        self.optimizer = _combo(OPTIMIZERS, OPTIMIZER_LABELS, "optimizerCombo")
        self.optimizer.currentIndexChanged.connect(self._update_auto_iterations)
        self.size_spin.valueChanged.connect(self._update_auto_iterations)
        self.seed = QSpinBox()
        self.seed.setObjectName("seedSpin")
        self.seed.setRange(0, SEED_MAX)
        self.seed.setToolTip("The same seed, settings and device give the same picture.")
        self.device = _combo(DEVICES, DEVICE_LABELS, "deviceCombo")
        self.precision = _combo(PRECISIONS, PRECISION_LABELS, "precisionCombo")
        self.precision.setToolTip("Automatic measures which precision is fastest on the device at start-up.")
        self.multiscale = QCheckBox("Coarse to fine (faster)")
        self.multiscale.setObjectName("multiscaleCheck")
        self.multiscale.setToolTip("Most iterations at a low resolution, then refined at full size; the preview "
                                   "grows through each scale.")
        self.multiscale.toggled.connect(self._update_auto_iterations)

        self.body = QWidget()
        form = QFormLayout(self.body)
        form.setContentsMargins(18, 2, 0, 2)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Size", self.size_spin)
        form.addRow("", self.size_note)
        form.addRow("", self.duration_note)
        form.addRow("Iterations", self.iterations)
        form.addRow("Start from", self.init)
        form.addRow("Optimiser", self.optimizer)
        form.addRow("Seed", self.seed)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        form.addRow("", self.multiscale)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self.apply(settings)
        for spin in (self.size_spin, self.iterations, self.seed):
            spin.valueChanged.connect(self.edited)
        for combo in (self.init, self.optimizer, self.device, self.precision):
            combo.currentIndexChanged.connect(self.edited)
        self.multiscale.toggled.connect(self.edited)
        self.set_expanded(False)

    def set_expanded(self, expanded: bool) -> None:
        self.toggle.setChecked(expanded)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)

    def set_editable(self, editable: bool) -> None:
        self.body.setEnabled(editable)

    def apply(self, settings: RenderSettings) -> None:
        """Show the fields of `settings` this panel has."""
        self._wanted_size = settings.size
        self._set_size(settings.size)
        self.optimizer.setCurrentIndex(max(0, self.optimizer.findData(settings.optimizer)))
        self.iterations.setValue(settings.iterations or 0)
        self.init.setCurrentIndex(max(0, self.init.findData(settings.init)))
        self.seed.setValue(settings.seed)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device)))
        self.precision.setCurrentIndex(max(0, self.precision.findData(settings.precision)))
        self.multiscale.setChecked(settings.multiscale)
        self._update_auto_iterations()

    def values(self) -> dict[str, object]:
        """The settings this panel's fields hold (the size as offered: within the memory limit)."""
        return {"size": self.size_spin.value(), "iterations": self.iterations.value() or None,
                "init": self.init.currentData(), "optimizer": self.optimizer.currentData(), "seed": self.seed.value(),
                "device": self.device.currentData(), "precision": self.precision.currentData(),
                "multiscale": self.multiscale.isChecked()}

    def shows(self, settings: RenderSettings) -> bool:
        """Whether the fields show `settings` already."""
        return all(getattr(settings, name) == value for name, value in self.values().items())

    def set_size_limit(self, maximum: int | None, reason: str = "") -> None:
        """Offer sizes up to `maximum` (None: any size); `reason` says why no larger ones are offered. The size
        asked for comes back when a later limit allows it."""
        limit = MAX_SIZE if maximum is None else max(MIN_SIZE, min(MAX_SIZE, maximum))
        self._limit_reason = reason
        self._limiting = True
        self.size_spin.setMaximum(limit)
        self._limiting = False
        self._set_size(self._wanted_size)

    def set_duration(self, text: str) -> None:
        """How long a run at the size shown should take here ("" when unknown)."""
        self.duration_note.setText(text)
        self.duration_note.setVisible(bool(text))

    def _set_size(self, size: int) -> None:
        self._limiting = True
        self.size_spin.setValue(min(size, self.size_spin.maximum()))
        self._limiting = False
        self._update_size_note()

    def _on_size_changed(self, size: int) -> None:
        if not self._limiting:
            self._wanted_size = size
            self._update_size_note()

    def _update_size_note(self) -> None:
        note = self._limit_reason
        if self._wanted_size > self.size_spin.value():
            note += f" {self._wanted_size} px was asked for; {self.size_spin.value()} px is used."
        self.size_note.setText(note.strip())
        self.size_note.setVisible(bool(note))

    def _update_auto_iterations(self) -> None:
        """'auto (up to N)': the most a run of the optimiser, size and scales chosen does with the default count
        (engine.schedule: a larger picture has more scales, each with room to settle)."""
        optimizer = self.optimizer.currentData() or RenderSettings().optimizer
        settings = RenderSettings(size=self.size_spin.value(), optimizer=optimizer,
                                  multiscale=self.multiscale.isChecked())
        self.iterations.setSpecialValueText(f"auto (up to {most_iterations(settings)})")
