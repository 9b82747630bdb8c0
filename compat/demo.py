"""The demo catalog: real device models, runtimes with their delegates, model families in several precisions.

Importable as data: telemetry's fleet simulator and benchmarks' lab history pick from DEVICE_MODELS, RUNTIMES and
MODELS (slugs are the keys they pass to compat.services). `step()` upserts it for seed_demo (idempotent).
"""

from django.db import transaction

from .models import Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion

# slug, vendor, name, SoC, os_family, RAM MB, accelerators, tier, ML memory budget MB
DEVICE_MODELS: list[dict] = [
    dict(slug=s, vendor=v, name=n, soc=soc, os_family=os, ram_mb=ram, accelerators=acc, tier=t, memory_budget_mb=mb)
    for s, v, n, soc, os, ram, acc, t, mb in [
        ("google-pixel-8-pro", "Google", "Pixel 8 Pro", "Google Tensor G3", "android", 12288, ["gpu", "npu"], 1, 600),
        ("google-pixel-8", "Google", "Pixel 8", "Google Tensor G3", "android", 8192, ["gpu", "npu"], 1, 500),
        ("google-pixel-7a", "Google", "Pixel 7a", "Google Tensor G2", "android", 8192, ["gpu", "npu"], 2, 400),
        ("google-pixel-6", "Google", "Pixel 6", "Google Tensor", "android", 8192, ["gpu", "npu"], 2, 400),
        ("samsung-galaxy-s24-ultra", "Samsung", "Galaxy S24 Ultra",
         "Snapdragon 8 Gen 3", "android", 12288, ["gpu", "npu", "dsp"], 1, 600),
        ("samsung-galaxy-s24", "Samsung", "Galaxy S24", "Exynos 2400", "android", 8192, ["gpu", "npu"], 1, 500),
        ("samsung-galaxy-s23", "Samsung", "Galaxy S23",
         "Snapdragon 8 Gen 2", "android", 8192, ["gpu", "npu", "dsp"], 1, 500),
        ("samsung-galaxy-a54", "Samsung", "Galaxy A54 5G", "Exynos 1380", "android", 6144, ["gpu", "npu"], 2, 300),
        ("samsung-galaxy-a14", "Samsung", "Galaxy A14", "MediaTek Helio G80", "android", 4096, ["gpu"], 3, 200),
        ("xiaomi-14", "Xiaomi", "Xiaomi 14", "Snapdragon 8 Gen 3", "android", 12288, ["gpu", "npu", "dsp"], 1, 600),
        ("xiaomi-13t-pro", "Xiaomi", "Xiaomi 13T Pro",
         "MediaTek Dimensity 9200+", "android", 12288, ["gpu", "npu"], 1, 600),
        ("xiaomi-redmi-note-13-pro", "Xiaomi", "Redmi Note 13 Pro",
         "Snapdragon 7s Gen 2", "android", 8192, ["gpu", "dsp"], 2, 350),
        ("xiaomi-redmi-note-12", "Xiaomi", "Redmi Note 12", "Snapdragon 685", "android", 4096, ["gpu", "dsp"], 3, 200),
        ("oneplus-12", "OnePlus", "OnePlus 12", "Snapdragon 8 Gen 3", "android", 16384, ["gpu", "npu", "dsp"], 1, 700),
        ("motorola-moto-g54", "Motorola", "moto g54",
         "MediaTek Dimensity 7020", "android", 8192, ["gpu", "npu"], 3, 250),
        ("apple-iphone-15-pro", "Apple", "iPhone 15 Pro", "A17 Pro (16-core ANE)", "ios", 8192, ["gpu", "npu"], 1, 700),
        ("apple-iphone-14", "Apple", "iPhone 14", "A15 Bionic (16-core ANE)", "ios", 6144, ["gpu", "npu"], 1, 500),
        ("apple-iphone-se-3", "Apple", "iPhone SE (3rd gen)",
         "A15 Bionic (16-core ANE)", "ios", 4096, ["gpu", "npu"], 2, 350),
        ("apple-ipad-pro-m2", "Apple", "iPad Pro 11 (M2)",
         "Apple M2 (16-core ANE)", "ios", 8192, ["gpu", "npu"], 1, 1000),
        ("apple-macbook-air-m3", "Apple", "MacBook Air (M3)",
         "Apple M3 (16-core ANE)", "macos", 16384, ["gpu", "npu"], 1, 2048),
        ("nvidia-jetson-agx-orin-64gb", "NVIDIA", "Jetson AGX Orin 64GB",
         "Orin (Ampere GPU, 2× NVDLA v2)", "linux", 65536, ["gpu", "npu"], 1, 8192),
        ("nvidia-jetson-orin-nano-8gb", "NVIDIA", "Jetson Orin Nano 8GB",
         "Orin Nano (Ampere GPU)", "linux", 8192, ["gpu"], 1, 2048),
        ("nvidia-jetson-xavier-nx", "NVIDIA", "Jetson Xavier NX",
         "Xavier (Volta GPU, 2× NVDLA)", "linux", 8192, ["gpu", "npu"], 2, 2048),
        ("raspberry-pi-5-8gb", "Raspberry Pi", "Raspberry Pi 5 (8GB)",
         "Broadcom BCM2712 (Cortex-A76)", "linux", 8192, [], 3, 1024),
        ("raspberry-pi-4b-4gb", "Raspberry Pi", "Raspberry Pi 4 Model B (4GB)",
         "Broadcom BCM2711 (Cortex-A72)", "linux", 4096, [], 3, 768),
        ("google-coral-dev-board", "Google", "Coral Dev Board",
         "NXP i.MX 8M + Edge TPU", "linux", 1024, ["npu"], 3, 256),
        ("intel-nuc-13-pro", "Intel", "NUC 13 Pro", "Core i7-1360P (Iris Xe)", "linux", 32768, ["gpu"], 1, 4096),
        ("intel-nuc-14-pro", "Intel", "NUC 14 Pro",
         "Core Ultra 7 155H (Arc GPU, NPU)", "windows", 32768, ["gpu", "npu"], 1, 4096),
    ]
]  # fmt: skip

# runtime slug -> name, versions (version, release date), delegates (slug, name, kind)
RUNTIMES: dict[str, dict] = {
    "tflite": dict(
        name="TensorFlow Lite / LiteRT",
        versions=[
            ("2.14.0", "2023-09-26"),
            ("2.15.0", "2023-11-14"),
            ("2.16.1", "2024-03-08"),
            ("2.17.0", "2024-07-11"),
        ],
        delegates=[
            ("xnnpack", "XNNPACK (CPU)", "cpu"),
            ("gpu", "GPU delegate (OpenCL/OpenGL)", "gpu"),
            ("nnapi", "NNAPI delegate", "npu"),
            ("hexagon", "Hexagon delegate", "dsp"),
            ("coreml", "Core ML delegate", "npu"),
            ("edgetpu", "Edge TPU delegate", "npu"),
        ],
    ),
    "onnxruntime": dict(
        name="ONNX Runtime",
        versions=[
            ("1.17.3", "2024-04-10"),
            ("1.18.1", "2024-06-27"),
            ("1.19.2", "2024-09-04"),
            ("1.20.1", "2024-11-21"),
        ],
        delegates=[
            ("cpu", "CPU EP", "cpu"),
            ("xnnpack", "XNNPACK EP", "cpu"),
            ("cuda", "CUDA EP", "gpu"),
            ("tensorrt", "TensorRT EP", "gpu"),
            ("qnn", "QNN EP (HTP)", "npu"),
            ("coreml", "CoreML EP", "npu"),
            ("nnapi", "NNAPI EP", "npu"),
            ("openvino", "OpenVINO EP", "gpu"),
        ],
    ),
    "coreml": dict(
        name="Core ML",
        versions=[("7.0", "2023-09-18"), ("8.0", "2024-09-16")],
        delegates=[
            ("cpu_only", "cpuOnly", "cpu"),
            ("cpu_and_gpu", "cpuAndGPU", "gpu"),
            ("ane", "cpuAndNeuralEngine", "npu"),
            ("all", "all (CPU, GPU, Neural Engine)", "npu"),
        ],
    ),
    "tensorrt": dict(
        name="TensorRT",
        versions=[("8.6.2", "2023-11-01"), ("10.3.0", "2024-08-08")],
        delegates=[("gpu", "GPU (CUDA cores)", "gpu"), ("dla", "DLA core", "npu")],
    ),
    "openvino": dict(
        name="OpenVINO",
        versions=[("2024.3.0", "2024-07-31"), ("2024.6.0", "2024-12-18")],
        delegates=[("cpu", "CPU plugin", "cpu"), ("gpu", "GPU plugin", "gpu"), ("npu", "NPU plugin", "npu")],
    ),
    "executorch": dict(
        name="ExecuTorch",
        versions=[("0.3.0", "2024-07-31"), ("0.4.0", "2024-10-17")],
        delegates=[
            ("xnnpack", "XNNPACK backend", "cpu"),
            ("vulkan", "Vulkan backend", "gpu"),
            ("qnn", "Qualcomm AI Engine backend", "npu"),
            ("coreml", "Core ML backend", "npu"),
            ("mps", "MPS backend", "gpu"),
        ],
    ),
    "qnn": dict(
        name="Qualcomm AI Engine Direct (QNN)",
        versions=[("2.26.0", "2024-08-30"), ("2.28.0", "2024-10-31")],
        delegates=[("cpu", "QNN CPU", "cpu"), ("gpu", "QNN GPU", "gpu"), ("htp", "QNN HTP (Hexagon)", "npu")],
    ),
}

# model slug -> name, task, accuracy metric, [(version, format, precision, size MB, reference accuracy)]
MODELS: dict[str, dict] = {
    "mobilenet-v3-large": dict(
        name="MobileNetV3-Large",
        task="classification",
        metric="top1",
        versions=[
            ("1.0-fp32", "tflite", "fp32", 21.9, 75.2),
            ("1.0-fp16", "tflite", "fp16", 11.0, 75.2),
            ("1.0-int8", "tflite", "int8", 5.6, 74.0),
        ],
    ),
    "mobilenet-v2": dict(
        name="MobileNetV2",
        task="classification",
        metric="top1",
        versions=[("1.0-fp32", "tflite", "fp32", 14.0, 71.8), ("1.0-int8", "tflite", "int8", 3.6, 70.8)],
    ),
    "efficientnet-lite0": dict(
        name="EfficientNet-Lite0",
        task="classification",
        metric="top1",
        versions=[("1.0-fp32", "tflite", "fp32", 18.6, 75.1), ("1.0-int8", "tflite", "int8", 5.4, 74.4)],
    ),
    "efficientnet-lite4": dict(
        name="EfficientNet-Lite4",
        task="classification",
        metric="top1",
        versions=[("1.0-fp32", "tflite", "fp32", 51.9, 80.4), ("1.0-int8", "tflite", "int8", 13.9, 80.2)],
    ),
    "resnet50": dict(
        name="ResNet-50",
        task="classification",
        metric="top1",
        versions=[
            ("1.5-fp32", "onnx", "fp32", 97.8, 76.1),
            ("1.5-fp16", "onnx", "fp16", 48.9, 76.1),
            ("1.5-int8", "onnx", "int8", 25.6, 75.8),
        ],
    ),
    "yolov8n": dict(
        name="YOLOv8n",
        task="detection",
        metric="mAP50-95",
        versions=[
            ("8.1-fp32", "onnx", "fp32", 12.2, 37.3),
            ("8.1-fp16", "onnx", "fp16", 6.2, 37.3),
            ("8.1-int8", "tflite", "int8", 3.3, 36.1),
            ("8.2-fp16", "mlpackage", "fp16", 6.3, 37.4),
        ],
    ),
    "ssd-mobilenet-v2": dict(
        name="SSD-MobileNetV2",
        task="detection",
        metric="mAP",
        versions=[("2.0-fp32", "tflite", "fp32", 24.2, 22.0), ("2.0-int8", "tflite", "int8", 6.4, 21.3)],
    ),
    "deeplabv3-mobilenetv2": dict(
        name="DeepLabV3 (MobileNetV2)",
        task="segmentation",
        metric="mIoU",
        versions=[
            ("1.0-fp32", "tflite", "fp32", 8.7, 70.7),
            ("1.0-fp16", "tflite", "fp16", 4.4, 70.7),
            ("1.0-int8", "tflite", "int8", 2.3, 69.8),
        ],
    ),
    "movenet-lightning": dict(
        name="MoveNet Lightning",
        task="pose",
        metric="mAP",
        versions=[("4.0-fp16", "tflite", "fp16", 4.8, 63.0), ("4.0-int8", "tflite", "int8", 2.9, 62.2)],
    ),
    "whisper-tiny-en": dict(
        name="Whisper tiny.en",
        task="speech",
        metric="WER",
        versions=[
            ("1.0-fp32", "onnx", "fp32", 151.0, 5.6),
            ("1.0-fp16", "mlpackage", "fp16", 75.6, 5.6),
            ("1.0-int8", "onnx", "int8", 41.0, 5.9),
            ("1.0-int4", "pte", "int4", 24.0, 6.8),
        ],
    ),
    "mobilebert": dict(
        name="MobileBERT (SQuAD)",
        task="nlp",
        metric="F1",
        versions=[("1.0-fp32", "tflite", "fp32", 100.7, 89.9), ("1.0-int8", "tflite", "int8", 26.1, 88.8)],
    ),
    "mobilevit-s": dict(
        name="MobileViT-S",
        task="classification",
        metric="top1",
        versions=[("1.0-fp16", "pte", "fp16", 11.2, 78.4)],
    ),
}


@transaction.atomic
def step(*, size: str, stdout, progress) -> None:
    """Compat catalog: device models, runtimes with versions and delegates, model families in several precisions."""
    # Always the full catalog (a few dozen rows): other apps' demo steps pick any slug from these lists.
    devices = DEVICE_MODELS
    for row in devices:
        DeviceModel.objects.update_or_create(slug=row["slug"], defaults={k: v for k, v in row.items() if k != "slug"})
    delegate_count = version_count = 0
    for slug, spec in RUNTIMES.items():
        runtime, _ = Runtime.objects.update_or_create(slug=slug, defaults={"name": spec["name"]})
        for version, released_on in spec["versions"]:
            RuntimeVersion.objects.update_or_create(
                runtime=runtime, version=version, defaults={"released_on": released_on}
            )
            version_count += 1
        for delegate_slug, name, kind in spec["delegates"]:
            Delegate.objects.update_or_create(
                runtime=runtime, slug=delegate_slug, defaults={"name": name, "kind": kind}
            )
            delegate_count += 1
    model_version_count = 0
    for slug, spec in MODELS.items():
        model, _ = MLModel.objects.update_or_create(slug=slug, defaults={"name": spec["name"], "task": spec["task"]})
        for version, fmt, precision, size_mb, accuracy in spec["versions"]:
            ModelVersion.objects.update_or_create(
                ml_model=model,
                version=version,
                defaults={
                    "format": fmt,
                    "precision": precision,
                    "size_bytes": int(size_mb * 1024 * 1024),
                    "accuracy_metric": spec["metric"],
                    "reference_accuracy": accuracy,
                },
            )
            model_version_count += 1
    stdout.write(
        f"   {len(devices)} device models, {len(RUNTIMES)} runtimes ({version_count} versions, "
        f"{delegate_count} delegates), {len(MODELS)} models ({model_version_count} versions)"
    )
