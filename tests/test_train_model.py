import numpy as np
import pytest

from train.model import build_model


def test_origin_cnn_has_the_documented_architecture():
    model = build_model()
    assert model.count_params() == 3_696_625
    assert model.input_shape == (None, 256, 256, 3)
    assert model.output_shape == (None, 1)
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [16, 32, 16]
    assert all(c.kernel_size == (3, 3) and c.strides == (1, 1) for c in convs)
    pools = [layer for layer in model.layers if layer.__class__.__name__ == "MaxPooling2D"]
    assert len(pools) == 3
    assert model.layers[-1].activation.__name__ == "sigmoid"


def test_rescaling_is_inside_the_model():
    model = build_model(32, 1)
    assert model.layers[1].__class__.__name__ == "Rescaling"
    out = model.predict(np.full((2, 32, 32, 1), 255.0, np.float32), verbose=0)
    assert out.shape == (2, 1) and np.all((out >= 0) & (out <= 1))


def test_three_classes_give_softmax_and_bad_args_fail():
    model = build_model(32, 3, num_classes=3)
    assert model.output_shape == (None, 3)
    assert model.layers[-1].activation.__name__ == "softmax"
    with pytest.raises(ValueError):
        build_model(arch="resnet")
    with pytest.raises(ValueError):
        build_model(num_classes=1)


def test_compact_arch_builds_for_grey_faces():
    model = build_model(48, 1, arch="compact")
    assert model.output_shape == (None, 1)
