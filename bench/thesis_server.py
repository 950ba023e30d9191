"""A thesis-style baseline server, written from the thesis' described behaviour (not its code).

    python bench/thesis_server.py --weights W.pt --port 8765 --threads 1

What it does, on purpose, as the thesis' service did: every request reads the model from disk
(``torch.load`` of a ResNet18 state dict) and builds it, decodes each image at full size with Pillow
(no reduced-size decoding), resizes it to 256 px, and runs PyTorch eager float32 *inside the event
loop* (an ``async def`` handler that never yields while it computes). ``POST /predict_bulk`` answers
a task id once the work is done; ``GET /from_task/{id}`` returns the stored list. It serves only
``bench/e2e_api.py`` as the baseline; it is not part of dermcad.
"""

from __future__ import annotations

import argparse
import io
import uuid
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, File, UploadFile
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def make_app(weights: str) -> FastAPI:
    import torch

    from dermcad.models import ModelConfig, build_model

    app = FastAPI()
    results: dict[str, list[dict[str, Any]]] = {}

    def load() -> Any:
        model = build_model(ModelConfig(net_type="resnet18"), load_pretrained=False)
        model.load_state_dict(torch.load(weights, weights_only=True))
        return model.eval()

    def infer(model: Any, data: bytes) -> list[float]:
        image = Image.open(io.BytesIO(data)).convert("RGB").resize((256, 256), Image.BILINEAR)
        x = (np.asarray(image, dtype=np.float32) / 255.0 - MEAN) / STD
        tensor = torch.from_numpy(x.transpose(2, 0, 1).copy())[None]
        with torch.no_grad():
            return torch.softmax(model(tensor), dim=1)[0].tolist()  # type: ignore[no-any-return]

    @app.post("/predict_bulk")
    async def predict_bulk(files: Annotated[list[UploadFile], File()]) -> dict[str, Any]:
        model = load()  # from disk, every request
        out = []
        for f in files:
            probs = infer(model, await f.read())  # blocks the event loop while it computes
            out.append({"name": f.filename, "probabilities": probs})
        task = str(uuid.uuid4())
        results[task] = out
        return {"task_uuid": task, "num_images": len(out)}

    @app.post("/predict")
    async def predict(file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        return await predict_bulk([file])

    @app.get("/from_task/{task}")
    async def from_task(task: str) -> list[dict[str, Any]]:
        return results.pop(task)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="thesis-style baseline server")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch
    import uvicorn

    torch.set_num_threads(args.threads)
    uvicorn.run(make_app(args.weights), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
