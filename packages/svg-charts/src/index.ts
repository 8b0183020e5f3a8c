export { type GoalChartOptions, type GoalRow, goalChart, goalMet } from "./goal-chart.js";
export {
  type AxisOptions,
  type LineChartOptions,
  type LineSeries,
  lineChart,
  type ReferenceLine,
} from "./line-chart.js";
export {
  formatNumber,
  makeScale,
  niceStep,
  percentileTicks,
  type Scale,
  type ScaleOptions,
  type Tick,
} from "./scale.js";
export { escapeXml, PALETTE } from "./svg.js";
