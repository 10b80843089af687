#!/usr/bin/env bash
# The whole ppkpt job on bundled synthetic data (a 5-keypoint plier), on CPU:
# render data -> train, evaluate and export (Paddle Inference + ONNX) the keypoint model and
# the detector, side by side -> detector + keypoint inference on the demo video:
# raw, smoothed, and in the real-time fast mode on onnxruntime.
source "$(dirname "$0")/_env.sh"
OUT=demo_output
DATA=dataset/demo
KPT_CFG=configs/keypoint/demo/hrnet_plier_demo.yml
DET_CFG=configs/detector/centernet_lite_demo.yml
mkdir -p "$OUT"
declare -a TIMES=()
step() {  # step NAME COMMAND...
  local name=$1; shift
  echo "==> $name"
  local t0=$SECONDS
  "$@"
  TIMES+=("$(printf '%-34s %4ds' "$name" $((SECONDS - t0)))")
}

keypoint_job() {  # train, evaluate and export the keypoint model
  "$PY" tools/train.py -c "$KPT_CFG" --seed 0 -o save_dir=$OUT &&
  "$PY" tools/eval.py -c "$KPT_CFG" -o save_dir=$OUT weights=$OUT/hrnet_plier_demo/model_final.pdparams &&
  "$PY" tools/export_model.py -c "$KPT_CFG" -o weights=$OUT/hrnet_plier_demo/model_final.pdparams --output_dir $OUT/inference --onnx
}
detector_job() {  # train, evaluate and export the detector
  "$PY" tools/train.py -c "$DET_CFG" --seed 0 -o save_dir=$OUT &&
  "$PY" tools/eval.py -c "$DET_CFG" -o save_dir=$OUT weights=$OUT/centernet_lite_demo/model_final.pdparams &&
  "$PY" tools/export_model.py -c "$DET_CFG" -o weights=$OUT/centernet_lite_demo/model_final.pdparams --output_dir $OUT/inference --onnx
}
side_by_side() {  # both jobs at once, half of the cores each (small models scale poorly past one core)
  local threads=$(( $(nproc) / 2 ))
  (( threads >= 1 )) || threads=1
  local t0=$SECONDS kpt det
  OMP_NUM_THREADS=$threads keypoint_job > >(sed -u 's/^/[keypoint] /') 2>&1 &
  kpt=$!
  OMP_NUM_THREADS=$threads detector_job > >(sed -u 's/^/[detector] /') 2>&1 &
  det=$!
  wait $kpt || { echo "keypoint job failed"; kill $det 2>/dev/null; return 1; }
  echo "==> keypoint model trained, evaluated and exported after $((SECONDS - t0)) s"
  wait $det || { echo "detector job failed"; return 1; }
  echo "==> detector trained, evaluated and exported after $((SECONDS - t0)) s"
}

step "render the demo data"        "$PY" tools/make_demo_data.py --out "$DATA"
step "keypoint model | detector"   side_by_side
step "keypoint overlay pictures"   "$PY" tools/infer.py -c "$KPT_CFG" -o save_dir=$OUT weights=$OUT/hrnet_plier_demo/model_final.pdparams --infer_img $DATA/images/val/000001.jpg --output_dir $OUT/infer --det_model_dir $OUT/inference/centernet_lite_demo --det_threshold 0.2
step "video inference (raw)"       "$PY" deploy/python/det_keypoint_unite_infer.py --det_model_dir $OUT/inference/centernet_lite_demo --keypoint_model_dir $OUT/inference/hrnet_plier_demo --video_file $DATA/video/demo.mp4 --output_dir $OUT/video_raw --save_res --det_threshold 0.05
step "video inference (smoothed)"  "$PY" deploy/python/det_keypoint_unite_infer.py --det_model_dir $OUT/inference/centernet_lite_demo --keypoint_model_dir $OUT/inference/hrnet_plier_demo --video_file $DATA/video/demo.mp4 --output_dir $OUT/video_smooth --save_res --det_threshold 0.05 --smooth --run_benchmark
step "video inference (fast, onnxruntime)" "$PY" deploy/python/det_keypoint_unite_infer.py --det_model_dir $OUT/inference/centernet_lite_demo --keypoint_model_dir $OUT/inference/hrnet_plier_demo --video_file $DATA/video/demo.mp4 --output_dir $OUT/video_fast --save_res --det_threshold 0.05 --smooth --fast --run_mode onnxruntime --run_benchmark
step "score raw video"             "$PY" tools/eval_video.py --gt $DATA/video/demo_gt.json --pred $OUT/video_raw/demo_pose.json
step "score smoothed video"        "$PY" tools/eval_video.py --gt $DATA/video/demo_gt.json --pred $OUT/video_smooth/demo_pose.json
step "score fast video"            "$PY" tools/eval_video.py --gt $DATA/video/demo_gt.json --pred $OUT/video_fast/demo_pose.json

echo
echo "Timings:"
printf '  %s\n' "${TIMES[@]}"
echo "Outputs in $OUT/: checkpoints and curves.png, infer/ overlays, inference/ models, video_*/ videos + JSON"
