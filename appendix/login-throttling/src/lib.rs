//! Login throttling as a layer around step 5's app (being written).
