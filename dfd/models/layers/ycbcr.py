"""The RGB -> YCbCr transform JPEG itself stores, shared by the co-occurrence and DCT streams."""

import numpy as np

# Full-range BT.601 / JPEG RGB -> YCbCr (what JPEG itself stores): rows are R, G, B weights.
YCBCR = np.array([[0.299, -0.168736, 0.5],
                  [0.587, -0.331264, -0.418688],
                  [0.114, 0.5, -0.081312]], dtype=np.float32)
YCBCR_OFFSET = np.array([0.0, 128.0, 128.0], dtype=np.float32)
