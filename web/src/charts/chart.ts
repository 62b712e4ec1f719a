// Chart.js with only the parts the reports draw (bars and lines), loaded with the report page
// (a chunk of its own: the catalog's first load does not carry it).
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip,
} from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement,
  Legend, Tooltip);

export { Chart };
