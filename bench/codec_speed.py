"""Wire codecs on a detection head's output (1 x 25200 x 85 float32, YOLOv5 at 640): the REST JSON writer
(``format_predict_response``, row format) and the TensorProto codec's ``typed_fields`` form (``float_val``
written from the array's bytes). Medians of wall time; the tests check these outputs bit for bit, this
script keeps their speed in view (they used to be timing asserts in the unit tests).

    python bench/codec_speed.py [--repeats 10] [--json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, median, script_parser, time_ms

SHAPE = (1, 25200, 85)


def run(_weights: Path | None = None, _image: Path | None = None, *, repeats: int = 10) -> dict[str, Any]:
    import numpy as np

    from yolo_tfserving._wire.tensors import ndarray_to_tensor_proto, tensor_proto_to_ndarray
    from yolo_tfserving.serving.json_codec import format_predict_response

    array = np.random.default_rng(1).random(SHAPE, dtype=np.float32) * 640
    proto = ndarray_to_tensor_proto(array, encoding="typed_fields")
    body = format_predict_response({"output0": array}, row_format=True)
    rows = [
        {
            "step": "REST JSON, format_predict_response (row format)",
            "median_ms": round(
                median(
                    time_ms(
                        lambda: format_predict_response({"output0": array}, row_format=True), repeats=repeats, warmup=1
                    )
                ),
                1,
            ),
            "bytes": len(body),
        },
        {
            "step": "TensorProto typed_fields, encode",
            "median_ms": round(
                median(
                    time_ms(lambda: ndarray_to_tensor_proto(array, encoding="typed_fields"), repeats=repeats, warmup=1)
                ),
                1,
            ),
            "bytes": proto.ByteSize(),
        },
        {
            "step": "TensorProto typed_fields, decode",
            "median_ms": round(median(time_ms(lambda: tensor_proto_to_ndarray(proto), repeats=repeats, warmup=1)), 1),
            "bytes": proto.ByteSize(),
        },
    ]
    return {"machine": machine(), "shape": list(SHAPE), "rows": rows}


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"A `{'x'.join(map(str, result['shape']))}` float32 output (YOLOv5's head at 640).",
        "",
        "| step | median ms | bytes |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r['step']} | {r['median_ms']} | {r['bytes']:,} |" for r in result["rows"]]
    return "\n".join(lines)


def main() -> None:
    args = script_parser(__doc__, repeats=10).parse_args()
    result = run(repeats=args.repeats)
    print(json.dumps(result, indent=2) if args.json else result["machine"] + "\n" + to_markdown(result))


if __name__ == "__main__":
    main()
