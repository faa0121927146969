"""Model Zoo-style unit test of the ct_mr_sr_3d bundle: train (both stages) and evaluate the trained weights, then
inference with the shipped weights, each through ``ConfigWorkflow`` on in-plane crops of the shared CT and MR
volumes (``volumes/`` under ``dataset_dir``, as the bundle expects)."""

import json
import os
import shutil
import tempfile
import unittest

import nibabel as nib
from sr_bundle_utils import bundle_root, run_workflow, write_volumes

BUNDLE_ROOT = bundle_root("ct_mr_sr_3d")  # "models/ct_mr_sr_3d" in the Model Zoo

TEST_CASE_1 = [  # train on the MR crop (validation: a CT slab), then evaluate what it trained on the held-out CT slab
    {
        "bundle_root": BUNDLE_ROOT,
        "train_files": "$[{'hr': @mr_file, 'slab': [0, None]}]",
        "hr_patch": [24, 24, 16],
        "batch_size": 1,
        "patches_per_volume": 2,
        "stage1_iterations": 2,
        "stage2_iterations": 1,
        "num_feat": 4,
        "num_conv": 1,
        "device": "cpu",
    },
    {
        "bundle_root": BUNDLE_ROOT,
        "test_files": "$[{'hr': @ct_file, 'slab': [-@held_out_slices, None]}]",
        "num_feat": 4,
        "num_conv": 1,
    },
]

TEST_CASE_2 = [  # inference with the shipped weights
    {"bundle_root": BUNDLE_ROOT, "device": "cpu"}
]


class TestCtMrSR3D(unittest.TestCase):
    def setUp(self):
        self.dataset_dir = tempfile.mkdtemp()
        self.output_dir = tempfile.mkdtemp()
        self.files = write_volumes(self.dataset_dir, in_plane=48, ct_slices=64)

    def tearDown(self):
        shutil.rmtree(self.dataset_dir)
        shutil.rmtree(self.output_dir)

    def test_train_eval_config(self):
        train_override, eval_override = TEST_CASE_1
        configs = os.path.join(BUNDLE_ROOT, "configs")
        run_workflow("train", os.path.join(configs, "train.json"), dataset_dir=self.dataset_dir,
                     output_dir=self.output_dir, **train_override)  # fmt: skip
        model = os.path.join(self.output_dir, "model.pt")
        self.assertTrue(os.path.isfile(model))
        eval_dir = os.path.join(self.output_dir, "eval")
        run_workflow("eval", os.path.join(configs, "evaluate.json"), check_properties=False, model_path=model,
                     dataset_dir=self.dataset_dir, output_dir=eval_dir, **eval_override)  # fmt: skip
        doc = json.load(open(os.path.join(eval_dir, "metrics.json")))
        self.assertEqual(doc["images"][0]["hr_shape"], [48, 48, 32])  # the held-out slab of the CT crop
        self.assertIn("psnr_tricubic", doc["summary"])

    def test_infer_config(self):
        (override,) = TEST_CASE_2
        run_workflow("infer", os.path.join(BUNDLE_ROOT, "configs", "inference.json"),
                     dataset_dir=str(self.files["mr"]), output_dir=self.output_dir, **override)  # fmt: skip
        (out,) = [os.path.join(d, f) for d, _, fs in os.walk(self.output_dir) for f in fs if f.endswith(".nii.gz")]
        self.assertEqual(nib.load(out).shape, (48, 48, 80))  # 20 slices, x4 through-plane


if __name__ == "__main__":
    unittest.main()
